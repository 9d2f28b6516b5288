"""Search by name and name resolution over a small catalogue built in code."""

from __future__ import annotations

import polars as pl
import pytest

from tastemaker.ingest.identity import artist_id, track_id
from tastemaker.surfaces.search import CatalogueSearch, UnknownName, fold, fold_text

#: (artist, title, listeners of the track); artists' listeners are their tracks' summed below
CATALOGUE = [
    ("AC/DC", "Back In Black", 30), ("AC/DC", "Highway to Hell", 20), ("AC/DC", "Thunderstruck", 25),
    ("Amy Winehouse", "Back to Black", 15), ("Bad Bunny", "MIA (feat. Drake)", 12), ("Bad Bunny", "Callaita", 9),
    ("Bad Suns", "Cardiac Arrest", 3), ("Beach Bunny", "Prom Queen", 4), ("Beyoncé", "Halo", 18),
    ("Led Zeppelin", "Stairway to Heaven - Remaster", 11), ("London Philharmonic Orchestra", "Stairway To Heaven", 1),
    ("The xx", "Intro", 6), ("J. Cole", "Intro", 2), ("21 Savage", "Intro", 2), ("Q", "Take Me Where Your Heart Is", 1),
    ("Sigur Rós", "Hoppípolla", 2), ("Simon & Garfunkel", "The Boxer", 7),
]


@pytest.fixture(scope="module")
def search() -> CatalogueSearch:
    tracks = pl.DataFrame({"track_id": [track_id(a, t) for a, t, _ in CATALOGUE],
                           "name": [t for _, t, _ in CATALOGUE],
                           "artist_id": [artist_id(a) for a, _, _ in CATALOGUE],
                           "artist_name": [a for a, _, _ in CATALOGUE]})
    per_track = pl.DataFrame({"id": tracks["track_id"], "listeners": [n for *_, n in CATALOGUE]})
    per_artist = (tracks.select(pl.col("artist_id").alias("id")).with_columns(per_track["listeners"])
                  .group_by("id").agg(pl.col("listeners").sum()))
    shows = pl.DataFrame({"show_id": ["sh:1", "sh:2"], "name": ["Crime Junkie", "The Daily"],
                          "publisher": ["audiochuck", "The New York Times"]})
    return CatalogueSearch(tracks, shows, pl.concat([per_track, per_artist.cast({"listeners": pl.Int64})]))


def test_a_key_drops_case_accents_and_punctuation() -> None:
    keys = pl.select(fold(pl.Series(["AC/DC", "Beyoncé", "Simon & Garfunkel", "  Sigur  Rós!"]))).to_series()
    assert keys.to_list() == ["ac dc", "beyonce", "simon and garfunkel", "sigur ros"]
    assert fold_text("Hoppípolla") == "hoppipolla"


def test_an_exact_artist_name_ranks_first_whatever_its_case_accents_or_punctuation(search: CatalogueSearch) -> None:
    for query, name in (("AC/DC", "AC/DC"), ("acdc", "AC/DC"), ("ac-dc", "AC/DC"), ("beyonce", "Beyoncé"),
                        ("BAD BUNNY", "Bad Bunny"), ("simon and garfunkel", "Simon & Garfunkel")):
        best = search.search(query, kind="artist")[0]
        assert (best.name, best.exact) == (name, True), query


def test_every_kind_is_searched_and_an_exact_name_beats_the_tracks_that_contain_it(search: CatalogueSearch) -> None:
    found = search.search("Bad Bunny", limit=5)
    assert (found[0].kind, found[0].name) == ("artist", "Bad Bunny")
    assert {m.name for m in found[1:3]} == {"MIA (feat. Drake)", "Callaita"}  # the artist's tracks come next
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    show = search.search("crime junkie")[0]
    assert (show.kind, show.name, show.by) == ("show", "Crime Junkie", "audiochuck")


def test_a_typo_finds_the_closest_name_and_a_short_name_does_not_match_every_query(search: CatalogueSearch) -> None:
    found = search.search("bad buny", kind="artist", limit=3)
    assert found[0].name == "Bad Bunny" and not found[0].exact and found[0].score > found[1].score
    assert all(m.name != "Q" for m in search.search("xqzzy", kind="artist"))  # "q" is in the query, not like it
    assert search.search("xqzzy", kind="artist", min_score=0.0)  # every name, however far, when asked


def test_exact_matches_rank_by_listeners_and_fuzzy_ones_follow(search: CatalogueSearch) -> None:
    found = search.search("stairway to heaven", kind="track", limit=3)
    assert [m.by for m in found[:2]] == ["Led Zeppelin", "London Philharmonic Orchestra"]
    assert all(m.exact for m in found[:2])


def test_a_track_is_named_by_title_by_artist_and_title_or_by_title_by_artist(search: CatalogueSearch) -> None:
    wanted = track_id("AC/DC", "Back In Black")
    for query in ("Back In Black", "AC/DC - Back In Black", "acdc back in black", "Back in Black by AC/DC"):
        resolved = search.resolve(query, "track")
        assert (resolved.match.id, resolved.how, resolved.note) == (wanted, "exact", None), query
    assert search.search("Back In Black", kind="track")[1].name == "Back to Black"  # close, not exact


def test_resolve_takes_ids_as_they_are(search: CatalogueSearch) -> None:
    some = track_id("The xx", "Intro")
    assert search.resolve(some, "track").match.id == some and search.resolve(some, "track").how == "id"
    assert search.resolve(artist_id("AC/DC"), "artist").match.name == "AC/DC"


def test_resolve_says_when_it_uses_the_closest_name(search: CatalogueSearch) -> None:
    resolved = search.resolve("bad buny", "artist")
    assert resolved.match.name == "Bad Bunny" and resolved.how == "closest"
    assert resolved.note is not None and "Bad Bunny" in resolved.note


def test_a_name_many_items_share_is_the_most_listened_only_when_it_clearly_leads(search: CatalogueSearch) -> None:
    intro = search.resolve("Intro", "track")  # 6 listeners against 2 and 2
    assert (intro.match.by, intro.how) == ("The xx", "most listened") and "3 tracks" in (intro.note or "")
    stairway = search.resolve("Stairway to Heaven", "track")  # a version tag does not make another song
    assert stairway.match.by == "Led Zeppelin"


def test_an_ambiguous_or_unknown_name_is_an_error_listing_the_closest(search: CatalogueSearch) -> None:
    catalogue = CatalogueSearch(pl.DataFrame({"track_id": ["t1", "t2"], "name": ["Intro", "Intro"],
                                              "artist_id": ["a1", "a2"], "artist_name": ["One", "Two"]}))
    with pytest.raises(UnknownName, match="equally well") as ambiguous:
        catalogue.resolve("intro", "track")
    assert {m.by for m in ambiguous.value.candidates} == {"One", "Two"}
    assert "ARTIST - TITLE" in str(ambiguous.value)
    with pytest.raises(UnknownName, match="no artist is named 'Zzyzx Qwv'") as unknown:
        search.resolve("Zzyzx Qwv", "artist")
    assert isinstance(unknown.value, ValueError)


def test_a_catalogue_without_tracks_passes_ids_through_and_refuses_a_bad_kind() -> None:
    empty = CatalogueSearch(pl.DataFrame())
    assert empty.resolve("tm:track:000001", "track").match.id == "tm:track:000001"
    assert empty.search("anything") == []
    with pytest.raises(ValueError, match="kind must be one of"):
        empty.search("x", kind="album")
    with pytest.raises(ValueError, match="limit"):
        empty.search("x", limit=0)
