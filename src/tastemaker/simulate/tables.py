"""The world's catalog and listeners as Arrow tables, with the columns of the stored tables.

Each table's columns are a subset of :mod:`tastemaker.store.tables` (``row_id`` is left to the
importer), so ``tastemaker import table`` can load them unchanged.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from tastemaker.simulate.catalog import Catalog
from tastemaker.simulate.listeners import COUNTRIES, GENDERS, Listeners

#: Share of the most popular tracks flagged ``hit`` in the audio features.
HIT_SHARE = 0.05


def _dates(start: date, days: np.ndarray) -> pa.Array:
    return pa.array(np.datetime64(start, "D") + days.astype("timedelta64[D]"), pa.date32())


def _lists(values: pa.Array, index: np.ndarray) -> pa.ListArray:
    """One list per row of ``index`` (``-1`` entries left out) holding ``values[index]``."""
    index = index[:, None] if index.ndim == 1 else index
    keep = index >= 0
    offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(index[keep])))


def tracks_table(cat: Catalog, start: date) -> pa.Table:
    """``tracks``: id, name, artist, album, duration, release date, explicit flag, genres.

    Example:
        >>> from tastemaker.simulate.catalog import build_catalog
        >>> from tastemaker.simulate.config import WorldConfig
        >>> tracks_table(build_catalog(WorldConfig(n_tracks=50)), date(2024, 1, 1)).num_rows
        50
    """
    artist = pa.array(cat.track_artist)
    return pa.table(
        {
            "track_id": cat.track_ids,
            "name": cat.track_names,
            "artist_id": cat.artist_ids.take(artist),
            "artist_name": cat.artist_names.take(artist),
            "album_id": cat.album_ids.take(pa.array(cat.track_album)),
            "album_name": cat.album_names.take(pa.array(cat.track_album)),
            "duration_ms": pa.array(cat.duration_ms, pa.int64()),
            "release_date": _dates(start, cat.release_day),
            "explicit": pa.array(cat.explicit),
            "genres": _lists(pa.array(cat.genre_names), cat.track_genre.astype(np.int64)),
        }
    )


def artists_table(cat: Catalog) -> pa.Table:
    """``artists``: id, name, genres (one each)."""
    return pa.table(
        {
            "artist_id": cat.artist_ids,
            "name": cat.artist_names,
            "genres": _lists(pa.array(cat.genre_names), cat.artist_genre.astype(np.int64)),
        }
    )


def audio_features_table(cat: Catalog) -> pa.Table:
    """``audio_features``: the Spotify-style features of every track, and a ``hit`` flag."""
    float_columns = ("danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
                     "instrumentalness", "liveness", "valence", "tempo", "time_signature")
    columns: dict[str, pa.Array] = {"track_id": cat.track_ids}
    for name in float_columns:
        values = cat.features[name]
        columns[name] = pa.array(values, pa.int32() if values.dtype.kind == "i" else pa.float64())
    threshold = np.quantile(cat.track_popularity, 1.0 - HIT_SHARE)
    columns["hit"] = pa.array(cat.track_popularity >= threshold)
    return pa.table(columns)


def users_table(people: Listeners, cat: Catalog, start: date) -> pa.Table:
    """``users``: id, country, language, sign-up date, gender, age, onboarding artists."""
    country = pa.array(people.country.astype(np.int64))
    return pa.table(
        {
            "user_id": people.ids,
            "country": pa.array([c[0] for c in COUNTRIES]).take(country),
            "language": pa.array([c[1] for c in COUNTRIES]).take(country),
            "signup_date": _dates(start, people.signup_day),
            "gender": pa.array(GENDERS).take(pa.array(people.gender.astype(np.int64))),
            "age": pa.array(people.age, pa.int32()),
            "onboarding_artists": _lists(cat.artist_ids, people.onboarding),
        }
    )
