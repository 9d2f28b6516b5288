"""The import formats by CLI name: one explicit table, nothing discovered by convention."""

from __future__ import annotations

from tastemaker.ingest.pipeline import Format
from tastemaker.ingest.readers import audio_features, lastfm, listenbrainz, movielens, mpd, podcasts, spotify, table

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "spotify-account",
            ("StreamingHistory*.json",),
            spotify.read_account,
            needs_user=True,
            user_folders=True,
            description="Spotify account-data export (StreamingHistory*.json)",
        ),
        Format(
            "spotify-extended",
            ("Streaming_History_Audio_*.json", "Streaming_History_Audio_*.csv", "endsong*.json"),
            spotify.read_extended,
            user_folders=True,
            description="Spotify extended streaming history (JSON, or the same columns as CSV)",
        ),
        Format(
            "lastfm-hetrec",
            lastfm.HETREC_PATTERNS,
            lastfm.read_hetrec,
            description="HetRec 2011 Last.fm-2k (user_artists, artists, tags, user_taggedartists, user_friends)",
        ),
        Format(
            "lastfm-1k",
            lastfm.LFM1K_PATTERNS,
            lastfm.read_1k,
            description="Last.fm-1K scrobble TSV and user profiles",
        ),
        Format(
            "listenbrainz",
            listenbrainz.PATTERNS,
            listenbrainz.read_listens,
            description="ListenBrainz listens export (JSON array or JSON lines)",
        ),
        Format(
            "movielens",
            movielens.PATTERNS,
            movielens.read_ratings,
            description="MovieLens ratings (u.data, ratings.csv) as a generic ratings source",
        ),
        Format(
            "mpd",
            mpd.PATTERNS,
            mpd.read_slice,
            description="Spotify Million Playlist Dataset slices (playlists become context)",
        ),
        Format(
            "audio-features",
            audio_features.PATTERNS,
            audio_features.read_features,
            description="Audio-feature tables (Spotify Hit Predictor CSVs), joined by URI or names",
        ),
        Format(
            "podcasts",
            podcasts.PATTERNS,
            podcasts.read_metadata,
            description="Podcast show and episode metadata CSVs",
        ),
        Format(
            "table",
            table.PATTERNS,
            table.read_table,
            description="Generic CSV / Parquet / JSONL with a column mapping",
        ),
    )
}


def get_format(name: str) -> Format:
    """The format called ``name``; raises ValueError listing the known names."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}") from None
