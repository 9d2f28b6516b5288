"""Content kinds: whether each item is music, a podcast episode, an audiobook, or unknown.

Spotify's account-data export names a podcast episode like a song (the show in ``artistName``,
the episode in ``trackName``) and marks neither, so an import alone files episodes as tracks and
they reach Discover Weekly, Daily Mixes and radio. The kind is decided from everything the store
holds, by these rules in this order; the first that applies decides, and ``content_kind_rule``
says which:

1. **export fields** — the event's item kind is ``episode`` or ``audiobook`` (the extended
   export's episode and audiobook fields, the account-data podcast files) → podcast / audiobook;
2. **podcast catalogue episode** — artist and title are a show and one of its episodes in the
   ``episodes`` table → podcast;
3. **music catalogue** — a Spotify *track* URI (extended export, audio-feature tables) or an
   audio-features row → music;
4. **no names** — "Unknown Artist" / "Unknown Track" → unknown;
5. **evidence** — the weighted signals of :mod:`tastemaker.ingest.kind_signals` (the artist's
   and the title's own) add up to ``podcast_at`` → podcast, to ``unknown_at`` → unknown;
6. otherwise → music.

``unknown`` is kept off music models and surfaces like podcasts (:data:`tastemaker.domain.NOT_MUSIC`):
when the evidence is too weak to call a podcast but there is some, a music surface does better
without the item. The decision runs after every import (:func:`refresh_kinds`, writing the tracks
table's ``content_kind`` and ``content_kind_rule``) and again on ``tastemaker catalogue kinds``, so
it improves when more metadata arrives. Its precision and recall on a hand-labelled sample of the
shared exports are in ``docs/benchmarks.md`` (``bench/content_kinds.py``).

>>> decide_kinds(read_inputs(store)).filter(pl.col("content_kind") == "podcast")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from tastemaker.domain import SPOKEN_ITEM_KINDS, ContentKind, ItemKind
from tastemaker.ingest.identity import row_ids
from tastemaker.ingest.kind_signals import (ITEM_EVIDENCE, REASONS, KindRules, artist_evidence, listening,
                                            show_key, title_evidence)

#: columns of the frame :func:`decide_kinds` returns
COLUMNS = ("item_id", "content_kind", "content_kind_rule", "score")


@dataclass(frozen=True, slots=True)
class KindInputs:
    """What a decision reads; every frame but ``tracks`` may be empty.

    ``tracks``: ``track_id, name, artist_id, artist_name, uri``; ``listened``: per item, how it was
    listened to (:func:`~tastemaker.ingest.kind_signals.listening` of the listening events); ``spoken``: ``item_id, item_kind`` of items an export marks
    ``episode`` or ``audiobook``; ``shows``: ``name`` of known podcast shows; ``episodes``:
    ``show_name, name`` of known episodes; ``audio``: ``track_id`` of audio-features rows.
    """

    tracks: pl.DataFrame
    listened: pl.DataFrame
    spoken: pl.DataFrame | None = None
    shows: pl.DataFrame | None = None
    episodes: pl.DataFrame | None = None
    audio: pl.DataFrame | None = None


def item_evidence(inputs: KindInputs, rules: KindRules | None = None) -> pl.DataFrame:
    """Per track: ``item_id``, every weighted signal (artist-level and the title's own), their sum
    ``score``, ``top`` (the signal that added most) and the facts rules 2-4 read (``known_episode``,
    ``catalogued``, ``no_name``). With every weight 1 the signals are the raw evidence, e.g. to fit
    a classifier on."""
    rules = rules or KindRules()
    titles = title_evidence(inputs.tracks, inputs.listened, rules.long_ms)
    music = _music_catalogue(inputs.tracks, inputs.audio)
    artists = artist_evidence(titles, inputs.shows, music, rules)
    own = [(pl.col(flag).cast(pl.Float64) * getattr(rules, weight)).alias(weight)
           for weight, flag in ITEM_EVIDENCE.items()]
    evidence = titles.join(artists, on="artist", how="left").with_columns(
        *own,
        (show_key(pl.col("artist_name")) + "\x1f" + show_key(pl.col("name")))
        .is_in(_episode_keys(inputs.episodes).implode()).fill_null(False).alias("known_episode"),
        pl.col("track_id").is_in(music["track_id"].implode()).alias("catalogued"))
    signals = KindRules.evidence()
    return evidence.select(
        pl.col("track_id").alias("item_id"), *[pl.col(s).fill_null(0.0) for s in signals],
        pl.sum_horizontal(signals).alias("score"),
        pl.concat_list(list(REASONS)).list.arg_max().replace_strict(
            dict(enumerate(REASONS)), return_dtype=pl.String).alias("top"),
        "known_episode", "catalogued", "no_name")


def decide_kinds(inputs: KindInputs, rules: KindRules | None = None) -> pl.DataFrame:
    """The kind of every track of ``inputs.tracks`` and every item an export marks spoken:
    ``item_id, content_kind, content_kind_rule, score`` (``score``: the evidence, null where an
    earlier rule decided).

    >>> decide_kinds(KindInputs(tracks, plays, shows=shows))  # doctest: +SKIP
    """
    rules = rules or KindRules()
    evidence = item_evidence(inputs, rules)
    kind, rule = _ordered_rules(rules)
    open_ = ~pl.col("known_episode") & ~pl.col("catalogued") & ~pl.col("no_name")
    tracks = evidence.select("item_id", kind.alias("content_kind"), rule.alias("content_kind_rule"),
                             pl.when(open_).then(pl.col("score")).alias("score"))
    spoken = _spoken(inputs.spoken)
    tracks = tracks.join(spoken, on="item_id", how="anti")
    return pl.concat([spoken, tracks], how="vertical_relaxed").select(COLUMNS)


def _ordered_rules(rules: KindRules) -> tuple[pl.Expr, pl.Expr]:
    """The kind and rule expressions of rules 2-6 of the module notes, first match wins."""
    score = pl.col("score").fill_null(0.0)
    because = pl.format("evidence: {}", pl.col("top").replace_strict(REASONS, default="none"))
    steps = [
        (pl.col("known_episode"), ContentKind.PODCAST, pl.lit("podcast catalogue episode")),
        (pl.col("catalogued"), ContentKind.MUSIC, pl.lit("music catalogue")),
        (pl.col("no_name"), ContentKind.UNKNOWN, pl.lit("no names")),
        (score >= rules.podcast_at, ContentKind.PODCAST, because),
        (score >= rules.unknown_at, ContentKind.UNKNOWN, because),
    ]
    kind: pl.Expr = pl.lit(ContentKind.MUSIC.value)
    rule: pl.Expr = pl.lit("no spoken-word evidence")
    for cond, value, why in reversed(steps):
        kind = pl.when(cond).then(pl.lit(value.value)).otherwise(kind)
        rule = pl.when(cond).then(why).otherwise(rule)
    return kind, rule


def _music_catalogue(tracks: pl.DataFrame, audio: pl.DataFrame | None) -> pl.DataFrame:
    """``track_id`` of tracks with a Spotify track URI or an audio-features row."""
    uri = tracks.filter(pl.col("uri").fill_null("").str.starts_with("spotify:track:")).select("track_id")
    rows = audio.select("track_id") if audio is not None and audio.height else uri.clear()
    return pl.concat([uri, rows]).unique()


def _episode_keys(episodes: pl.DataFrame | None) -> pl.Series:
    """``show + episode`` match keys of the known episodes."""
    if episodes is None or not episodes.height:
        return pl.Series("key", [], dtype=pl.String)
    return episodes.select((show_key(pl.col("show_name")) + "\x1f" + show_key(pl.col("name"))).alias("key"))[
        "key"].drop_nulls().unique()


def _spoken(spoken: pl.DataFrame | None) -> pl.DataFrame:
    """Rule 1: items an export marks episode or audiobook."""
    schema = {"item_id": pl.String, "content_kind": pl.String, "content_kind_rule": pl.String,
              "score": pl.Float64}
    if spoken is None or not spoken.height:
        return pl.DataFrame(schema=schema)
    book = pl.col("item_kind") == ItemKind.AUDIOBOOK.value
    return spoken.unique("item_id").select(
        "item_id",
        pl.when(book).then(pl.lit(ContentKind.AUDIOBOOK.value)).otherwise(pl.lit(ContentKind.PODCAST.value))
        .alias("content_kind"),
        pl.when(book).then(pl.lit("export audiobook field")).otherwise(pl.lit("export episode field"))
        .alias("content_kind_rule"),
        pl.lit(None, dtype=pl.Float64).alias("score"))


#: event types whose ``ms_played`` is listening
LISTENING = ("play", "skip", "complete", "replay")
#: the columns of the tracks table a decision writes
STORED = ("content_kind", "content_kind_rule")


@dataclass(frozen=True, slots=True)
class KindsRefresh:
    """What :func:`refresh_kinds` did: decided items per kind, and how many tracks it wrote because
    their kind or rule changed."""

    kinds: dict[str, int]
    changed: int


def read_inputs(store: Any, tracks: pl.DataFrame | None = None) -> KindInputs:
    """Everything ``store`` holds that a decision reads (:class:`KindInputs`); ``tracks``: its
    ``entities("tracks")`` when the caller has read them already."""
    events = store.events()
    plays = events.filter(pl.col("type").is_in(LISTENING) & pl.col("ms_played").is_not_null())
    listened = listening(plays.select("user_id", "item_id", "ms_played")).collect()
    spoken = (events.filter(pl.col("item_kind").is_in(sorted(SPOKEN_ITEM_KINDS)))
              .select("item_id", "item_kind").unique().collect())
    shows = store.entities("shows")
    episodes = store.entities("episodes")
    if episodes.height:
        episodes = episodes.join(shows.select("show_id", pl.col("name").alias("show_name")), on="show_id",
                                 how="inner").select("show_name", "name")
    tracks = (store.entities("tracks") if tracks is None else tracks).select(
        "track_id", "name", "artist_id", "artist_name", "uri")
    return KindInputs(tracks, listened, spoken, shows.select("name"), episodes,
                      store.entities("audio_features").select("track_id"))


def refresh_kinds(store: Any, rules: KindRules | None = None) -> KindsRefresh:
    """Re-decide the kind of every item of ``store`` and write the tracks whose kind or rule changed
    (``content_kind``, ``content_kind_rule`` of the tracks table; the latest decision wins in
    ``entities("tracks")``). Run after every import; ``tastemaker catalogue kinds`` runs it on demand.

    >>> refresh_kinds(store).kinds  # doctest: +SKIP
    {'music': 78212, 'podcast': 3391, 'unknown': 251}
    """
    tracks = store.entities("tracks")
    decided = decide_kinds(read_inputs(store, tracks), rules)
    counts = dict(decided.group_by("content_kind").len().sort("content_kind").iter_rows())
    stored = tracks.select("track_id", *STORED)
    changed = (decided.rename({"item_id": "track_id"}).select("track_id", *STORED)
               .join(stored, on="track_id", how="inner", suffix="_was")
               .filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_was")) for c in STORED))
               .select("track_id", *STORED))
    if changed.height:
        version = pl.lit(store.version(), dtype=pl.Int64).alias("_version")
        ids = row_ids(changed.with_columns(version), ["track_id", *STORED, "_version"])
        store.append({"tracks": changed.with_columns(ids)})
    return KindsRefresh(counts, changed.height)
