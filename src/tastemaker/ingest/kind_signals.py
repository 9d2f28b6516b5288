"""The signals a content-kind decision weighs (:mod:`tastemaker.ingest.kinds`), and their weights.

Each signal is a fact about an artist (the show, when an export hides one behind the artist
column) or about one title, computed from names and listening alone:

- the artist's name is a show name of the ``shows`` table (``listed``), says "podcast"
  (``named``), names a host ("Ologies with Alie Ward": ``hosted``) or hints at a show ("…cast",
  " | ", "with Firstname", daily/news/radio/show/talk: ``hinted``, weak, many bands match);
- the shares of its titles numbered like episodes ("#12 -", "Ep. 12", "Episode 12", "S1E2",
  "436: ...", "SDS 384: ...", "Podcast 416": ``episode_titles``), worded like episodes (a number
  after "#", chapters, " | ", dates, a sentence of nine words or more, the show's own name:
  ``episode_hints``), played for at least ``long_ms`` at once (``long_plays``), played in full
  twice or more (``replays``), marked like recordings ("feat.", "Remix", "Live", "Op. 27", "BWV":
  ``song_titles``) and played by two listeners or more (``shared_titles``); whether one of its
  tracks is in the music catalogue (``catalogue_music``);
- the title's own marks (``own_*``).

Shares are shrunk towards 0 (``k / (n + 1)`` of ``n`` titles), so that one title proves little: a
lone title needs a strong mark (an episode number, a show name) to be called a podcast, and one
weak mark only takes it off music surfaces (``unknown``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
#: titles numbered or labelled like episodes: "#12 -", "Ep. 12", "Episode 12", "S1E2", "436: ...",
#: "SDS 384: ...", "Podcast 416 - ..."
EPISODE_TITLE = (
    r"(?i)(^#\s?\d+|\bep(isode|isódio|isodio)?\.?\s?#?\d+\b"
    r"|\b(épisode|episodio|episódio|folge|avsnitt|aflevering)\s?#?\d+|\bs\d{1,2}\s?e\d{1,3}\b|^e\d{1,4}\b"
    r"|^\d{2,4}\s?[:.|]\s|^\d{1,4}\s?[:|]\s|^\p{Lu}{2,6}\s?#?\d{1,4}\s?[:.|-]\s"
    r"|\bcase \d+:|\bpart \d+ of \d+|\bpodcast)"
)
#: weaker marks, common in episode titles and found in some songs' ("Untitled #4", "February 28, 2016"):
#: a number after "#", chapters, " | ", dates
EPISODE_HINT = (
    r"(?i)([\s(\[|:–—-]#\s?\d+\b|^chapter \d+\s?[:.]|:\s?chapter \d+|\s\|\s"
    r"|\b\d{1,2}[/.-]\d{1,2}[/.-](19|20)?\d\d\b|\b(19|20)\d\d-\d\d-\d\d\b"
    r"|\b" + _MONTH + r" \d{1,2}(st|nd|rd|th)?,? (19|20)\d\d"
    r"|\b\d{1,2}(st|nd|rd|th) (of )?" + _MONTH + r"(\s|$)|\b" + _MONTH + r" \d{1,2}(st|nd|rd|th)\b)"
)
#: an episode's title is often a sentence: this many words or more (brackets and " - ..." tails left out)
WORDY_TITLE = 9
#: titles marked like recordings of music
SONG_TITLE = (
    r"(?i)(\(feat\.|\bfeat\.|\(with |\bft\.|remix|remaster|\(live|- live\b|\blive at\b|radio edit|\bedit\)"
    r"|\bversion\b|acoustic|instrumental|\bmix\)|\bprod\.|\bop\. ?\d|\bbwv\b|\bk\. ?\d{2,3}\b"
    r"|\bno\. ?\d+ in\b|- from |\(from |soundtrack|interlude|\bskit\b|\bdemo\)|unplugged|\(original"
    r"|\bbonus track\b)"
)
#: show names that say so
SHOW_NAME = r"(?i)podcast|pódcast"
#: show names with their host: "Ologies with Alie Ward" ("with The ..." is a band's backing band)
HOSTED = r"\b[Ww]ith (Dr\.? )?\p{Lu}\p{Ll}+ \p{Lu}[\p{Ll}\p{Lu}]+"
NOT_HOSTED = r"\b[Ww]ith [Tt]he\b"
#: show names that hint at a show (many bands too: a hint is weak evidence)
SHOW_HINT = (r"(\p{L}{2,}(cast|Cast)\b|\s\|\s|\b[Ww]ith (Dr\.? )?\p{Lu}\p{Ll}+"
             r"|(?i:\b(daily|news|radio|show|talks?)\b))")
#: "...cast" words that are no show
NOT_CAST = r"(?i)\b(broad|fore|down|out|over|tele|type|simul)cast\b"
NO_NAME = r"(?i)^unknown (artist|track)$"

#: the artist-level signals, each a field (its weight) of :class:`KindRules`
ARTIST_EVIDENCE = ("listed", "named", "hosted", "hinted", "episode_titles", "episode_hints", "long_plays",
                   "replays", "song_titles", "shared_titles", "catalogue_music")
#: the title's own signals: weight field -> the :func:`title_evidence` flag it multiplies
ITEM_EVIDENCE = {"own_episode_title": "episode_title", "own_episode_hint": "episode_hint",
                 "own_long_play": "long_play", "own_song_title": "song_title"}
#: signal -> what a decision's rule says when that signal added most (the signals that can only add)
REASONS = {
    "listed": "show in the podcast catalogue",
    "named": "show name says podcast",
    "hosted": "show name with its host",
    "hinted": "show-like name",
    "episode_titles": "titles numbered like episodes",
    "episode_hints": "titles worded like episodes",
    "long_plays": "long plays of its titles",
    "own_episode_title": "title numbered like an episode",
    "own_episode_hint": "title worded like an episode",
    "own_long_play": "a long play",
}


@dataclass(frozen=True, slots=True)
class KindRules:
    """The weight of each signal (see the module notes), and the thresholds on their sum.

    A title's score is its artist's weighted signals plus its own (``own_*``); artist-level
    shares are ``k / (n + 1)`` of the artist's ``n`` titles. ``long_ms``: a play at least this
    long is a long play (8 minutes: longer than all but about 1 % of the plays of music in the
    shared exports). ``podcast_at`` / ``unknown_at``: the scores from which a title is a podcast
    episode / unknown.

    >>> KindRules(podcast_at=3.0).unknown_at
    1.25
    """

    listed: float = 4.0
    named: float = 4.0
    hosted: float = 2.5
    hinted: float = 1.0
    episode_titles: float = 3.0
    episode_hints: float = 1.5
    long_plays: float = 3.0
    replays: float = -4.0
    song_titles: float = -3.0
    shared_titles: float = -2.0
    catalogue_music: float = -6.0
    own_episode_title: float = 1.0
    own_episode_hint: float = 0.5
    own_long_play: float = 0.5
    own_song_title: float = -1.0
    long_ms: int = 8 * 60_000
    podcast_at: float = 2.5
    unknown_at: float = 1.25

    def __post_init__(self) -> None:
        if self.unknown_at > self.podcast_at:
            raise ValueError(f"unknown_at ({self.unknown_at}) must not exceed podcast_at ({self.podcast_at})")
        if self.long_ms <= 0:
            raise ValueError(f"long_ms must be positive, got {self.long_ms}")

    @staticmethod
    def evidence() -> tuple[str, ...]:
        """The names of the weighted signals (the fields that are weights)."""
        return (*ARTIST_EVIDENCE, *ITEM_EVIDENCE)


def show_key(names: pl.Expr) -> pl.Expr:
    """A show or artist name folded for matching: NFKC, case-folded, punctuation and spacing removed.

    >>> pl.select(show_key(pl.lit("The Journal."))).item()
    'the journal'
    """
    return (names.str.normalize("NFKC").str.to_lowercase().str.replace_all(r"[^\w]+", " ")
            .str.strip_chars())


def listening(plays: pl.LazyFrame) -> pl.LazyFrame:
    """Per item of ``plays`` (``user_id, item_id, ms_played``): its ``longest`` play, how many plays were
    ``full`` (within 5 % of the longest) and its ``listeners``. Lazy, so a store's events are reduced to
    one row per item without being loaded."""
    longest = pl.col("ms_played").max()
    return plays.group_by("item_id").agg(longest.alias("longest"),
                                         (pl.col("ms_played") >= 0.95 * longest).sum().alias("full"),
                                         pl.col("user_id").n_unique().alias("listeners"))


def title_evidence(tracks: pl.DataFrame, listened: pl.DataFrame, long_ms: int) -> pl.DataFrame:
    """Per track (``track_id, name, artist_id, artist_name, uri``): its ``artist`` key and flags —
    ``episode_title``, ``episode_hint``, ``song_title`` (its marks), ``replayed`` (played in full
    twice or more, its longest play lasting 30 s to ``long_ms``), ``long_play``, ``shared`` (two
    listeners or more) and ``no_name``. ``listened``: :func:`listening`."""
    title = pl.col("name").fill_null("")
    artist = pl.col("artist_name").fill_null("")
    full, longest = pl.col("full"), pl.col("longest")
    key = pl.coalesce("artist_id", show_key(pl.col("artist_name")), "track_id").alias("artist")
    return (tracks.select("track_id", "name", "artist_name", "uri", key)
            .join(listened, left_on="track_id", right_on="item_id", how="left")
            .with_columns(pl.col("full", "listeners", "longest").fill_null(0))
            .with_columns(
                title.str.contains(EPISODE_TITLE).alias("episode_title"),
                (title.str.contains(EPISODE_HINT) | (_words(title) >= WORDY_TITLE)
                 | _names_itself(title, artist)).alias("episode_hint"),
                title.str.contains(SONG_TITLE).alias("song_title"),
                ((full >= 2) & longest.is_between(30_000, long_ms, closed="left")).alias("replayed"),
                (longest >= long_ms).alias("long_play"),
                (pl.col("listeners") >= 2).alias("shared"),
                (artist.str.contains(NO_NAME) | title.str.contains(NO_NAME)).alias("no_name")))


def artist_evidence(titles: pl.DataFrame, shows: pl.DataFrame | None, music: pl.DataFrame,
                    rules: KindRules) -> pl.DataFrame:
    """Per ``artist`` key: each artist-level signal times its weight (:data:`ARTIST_EVIDENCE`).
    ``titles``: :func:`title_evidence`; ``shows``: ``name`` of known shows; ``music``: ``track_id``
    of the tracks the music catalogue knows."""
    known = pl.Series("key", [], dtype=pl.String)
    if shows is not None and shows.height:
        known = shows.select(show_key(pl.col("name")).alias("key"))["key"].unique()
        known = known.filter(known != "")
    name = pl.col("artist_name").fill_null("")
    n = pl.len() + 1
    shares = {"episode_titles": "episode_title", "episode_hints": "episode_hint", "long_plays": "long_play",
              "replays": "replayed", "song_titles": "song_title", "shared_titles": "shared"}
    hosted = name.str.contains(HOSTED) & ~name.str.contains(NOT_HOSTED) & ~name.str.contains(SHOW_NAME)
    hinted = (name.str.contains(SHOW_HINT) & ~name.str.contains(NOT_CAST) & ~name.str.contains(SHOW_NAME)
              & ~hosted)
    per = (titles.group_by("artist").agg(
               pl.col("artist_name").drop_nulls().first(),
               *[(pl.col(flag).sum() / n).alias(signal) for signal, flag in shares.items()],
               pl.col("track_id").is_in(music["track_id"].implode()).any().cast(pl.Float64)
               .alias("catalogue_music"))
           .with_columns(
               show_key(name).is_in(known.implode()).cast(pl.Float64).alias("listed"),
               name.str.contains(SHOW_NAME).cast(pl.Float64).alias("named"),
               hosted.cast(pl.Float64).alias("hosted"), hinted.cast(pl.Float64).alias("hinted")))
    return per.select("artist", *[(pl.col(e) * getattr(rules, e)).alias(e) for e in ARTIST_EVIDENCE])


def _names_itself(title: pl.Expr, artist: pl.Expr) -> pl.Expr:
    """The title starts or ends with the artist's own name ("Como desenvolver bons hábitos! - FodCast")."""
    own, key = show_key(artist), show_key(title)
    return ((own.str.len_chars() >= 4) & (key != own)
            & (key.str.starts_with(own + " ") | key.str.ends_with(" " + own)))


def _words(title: pl.Expr) -> pl.Expr:
    """Words of a title without its bracketed parts and " - ..." tail (where songs keep versions, guests)."""
    bare = title.str.replace_all(r"\s*[(\[][^)\]]*[)\]]", "").str.replace(r"\s+[-–—]\s+.*$", "")
    return bare.str.count_matches(r"[\p{L}\p{N}]+")
