"""The synthetic catalog: genres with latent centroids, artists near them, albums, tracks.

Track popularity follows a power law (artists are Zipf-distributed, tracks vary around their
artist); audio features are a noisy projection of each track's latent vector, so they carry
genre and taste information a content-based model can learn from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tastemaker.simulate.behaviour import Behaviour
from tastemaker.simulate.config import WorldConfig

GENRE_NAMES: tuple[str, ...] = (
    "pop", "hip hop", "rock", "latin", "electronic", "r&b", "indie", "country", "k-pop", "metal", "house",
    "jazz", "classical", "reggaeton", "soul", "folk", "techno", "punk", "afrobeats", "blues", "lo-fi",
    "ambient", "funk", "dancehall", "trap", "disco", "gospel", "drum and bass", "bossa nova", "grunge",
    "ska", "opera",
)
ADJECTIVES = pa.array(
    "Blue Golden Silent Electric Broken Wild Midnight Neon Paper Velvet Hollow Burning Lonely Crystal "
    "Distant Sweet Restless Silver Faded Hidden Northern Endless Gentle Crimson Secret Summer Frozen "
    "Lucky Quiet Bright Wicked Tender Empty Violet Savage Lazy Dizzy Cosmic Rusty Sacred".split()
)
NOUNS = pa.array(
    "Heart Road River Dream Fire City Night Ocean Light Shadow Garden Mirror Storm Echo Signal Highway "
    "Moon Letter Window Island Engine Ghost Horizon Rain Thunder Diamond Kingdom Paradise Machine Tide "
    "Canyon Satellite Lantern Harbor Memory Fever Balloon Comet Desert Wave".split()
)
SYLLABLES = pa.array("ka lo mi ra ven su ta ri no el ja de vo lin ar sa mo ze ni ko ba lu fe quin".split())
FEATURES: tuple[str, ...] = (
    "danceability", "energy", "valence", "acousticness", "instrumentalness", "speechiness", "liveness",
    "tempo",
)


@dataclass(frozen=True, slots=True)
class SegmentSampler:
    """Draws an item of a chosen segment (e.g. a track of a genre) with probability ∝ its weight.

    All segments share one sorted cumulative array, so a whole batch of draws is one
    ``searchsorted``. Segments without weight return ``-1``.

    Example:
        >>> s = SegmentSampler.build(np.array([0, 0, 1]), np.array([1.0, 0.0, 2.0]), 2)
        >>> s.sample(np.array([0, 1]), np.array([0.99, 0.5])).tolist()
        [0, 2]
    """

    order: np.ndarray
    cdf: np.ndarray
    last: np.ndarray  # per segment: position (in order) of its last item with weight, -1 if none

    @classmethod
    def build(
        cls, segment: np.ndarray, weights: np.ndarray, n_segments: int, order: np.ndarray | None = None
    ) -> SegmentSampler:
        """Index ``weights`` by ``segment`` (pass ``order = argsort(segment)`` to reuse a sort)."""
        order = np.argsort(segment, kind="stable") if order is None else order
        seg = segment[order].astype(np.int64)
        w = weights[order].astype(np.float64)
        bounds = np.searchsorted(seg, np.arange(n_segments + 1))
        cum = np.cumsum(w)
        before = np.concatenate([[0.0], cum])[bounds[:-1]]
        total = np.concatenate([[0.0], cum])[bounds[1:]] - before
        within = (cum - before[seg]) / np.where(total > 0, total, 1.0)[seg]
        positive = np.where(w > 0, np.arange(seg.size), -1)
        last = np.full(n_segments, -1, dtype=np.int64)
        np.maximum.at(last, seg, positive)
        return cls(order=order, cdf=seg + np.minimum(within, 1.0), last=last)

    def sample(self, segments: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One item per element of ``segments``, using the uniforms ``u`` in [0, 1)."""
        if self.order.size == 0:
            return np.full(segments.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.cdf, segments + u * (1.0 - 1e-9), side="right")
        last = self.last[segments]
        items = self.order[np.clip(np.minimum(pos, last), 0, self.order.size - 1)]
        return np.where(last >= 0, items, -1)


@dataclass(frozen=True, slots=True)
class DayCatalog:
    """What can be played on one day: samplers over released tracks, with new releases boosted."""

    day: int
    popular: SegmentSampler
    by_genre: SegmentSampler


@dataclass(frozen=True, slots=True, eq=False)
class Catalog:
    """Genres, artists, albums and tracks as aligned arrays (index ``i`` is the ``i``-th id).

    Release days are counted from the world's start (negative: back catalog).
    """

    genre_names: tuple[str, ...]
    genre_centroids: np.ndarray
    genre_popularity: np.ndarray
    artist_ids: pa.StringArray
    artist_names: pa.StringArray
    artist_genre: np.ndarray
    artist_vectors: np.ndarray
    artist_popularity: np.ndarray
    album_ids: pa.StringArray
    album_names: pa.StringArray
    album_release_day: np.ndarray
    track_ids: pa.StringArray
    track_names: pa.StringArray
    track_artist: np.ndarray
    track_album: np.ndarray
    track_vectors: np.ndarray
    track_popularity: np.ndarray
    duration_ms: np.ndarray
    explicit: np.ndarray
    features: dict[str, np.ndarray]
    genre_order: np.ndarray  # tracks sorted by genre, reused by every day's sampler

    @property
    def n_tracks(self) -> int:
        """Number of tracks."""
        return len(self.track_ids)

    @property
    def track_genre(self) -> np.ndarray:
        """Each track's genre (its artist's)."""
        return self.artist_genre[self.track_artist]

    @property
    def release_day(self) -> np.ndarray:
        """Each track's release day relative to the world's start (its album's)."""
        return self.album_release_day[self.track_album]

    def playable(self, day: int, behaviour: Behaviour) -> DayCatalog:
        """Samplers over the tracks released by ``day``, new releases boosted for a few weeks.

        Example:
            >>> cat = build_catalog(WorldConfig(n_tracks=200))
            >>> int(cat.playable(0, Behaviour()).popular.sample(np.zeros(1, int), np.zeros(1))[0]) >= 0
            True
        """
        age = day - self.release_day
        halvings = np.maximum(age, 0) / behaviour.release_half_life_days
        fresh = 1.0 + behaviour.release_boost * np.exp2(-halvings)
        weights = np.where(age >= 0, self.track_popularity * fresh, 0.0)
        everything = np.zeros(self.n_tracks, np.int64)
        popular = SegmentSampler.build(everything, weights, 1, np.arange(self.n_tracks))
        by_genre = SegmentSampler.build(self.track_genre, weights, len(self.genre_names), self.genre_order)
        return DayCatalog(day=day, popular=popular, by_genre=by_genre)


def make_ids(kind: str, n: int, min_width: int) -> pa.StringArray:
    """Canonical ids ``tm:<kind>:<zero-padded index>``.

    Example:
        >>> make_ids("artist", 3, 4).to_pylist()
        ['tm:artist:0000', 'tm:artist:0001', 'tm:artist:0002']
    """
    width = max(min_width, len(str(max(n - 1, 0))))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(f"tm:{kind}:", digits, "")


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` with every row scaled to unit length (float32).

    Example:
        >>> unit_rows(np.array([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _pick(rng: np.random.Generator, words: pa.Array, n: int) -> pa.Array:
    return words.take(pa.array(rng.integers(0, len(words), n)))


def _title_names(rng: np.random.Generator, n: int) -> pa.Array:
    return pc.binary_join_element_wise(_pick(rng, ADJECTIVES, n), _pick(rng, NOUNS, n), " ")


def _name_part(rng: np.random.Generator, n: int) -> pa.Array:
    syllables = _pick(rng, SYLLABLES, n), _pick(rng, SYLLABLES, n)
    return pc.utf8_capitalize(pc.binary_join_element_wise(*syllables, ""))


def _artist_names(rng: np.random.Generator, n: int) -> pa.Array:
    first, last = _name_part(rng, n), _name_part(rng, n)
    band = pc.binary_join_element_wise("The", pc.binary_join_element_wise(_title_names(rng, n), "s", ""), " ")
    person = pc.binary_join_element_wise(first, last, " ")
    return pc.if_else(pa.array(rng.random(n) < 0.3), band, person)


def _genres(cfg: WorldConfig, rng: np.random.Generator) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Names, unit centroids (genres of one family lie close) and popularity shares."""
    g, d = cfg.genres, cfg.taste_dim
    names = tuple(GENRE_NAMES[i] if i < len(GENRE_NAMES) else f"genre {i + 1}" for i in range(g))
    families = rng.normal(size=(max(2, g // 4), d))
    family = rng.integers(0, families.shape[0], g)
    centroids = unit_rows(unit_rows(families)[family] * 0.6 + unit_rows(rng.normal(size=(g, d))) * 0.8)
    popularity = 1.0 / np.arange(1, g + 1) ** 0.8
    return names, centroids, popularity / popularity.sum()


def _artists(
    cfg: WorldConfig, rng: np.random.Generator, centroids: np.ndarray, genre_pop: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each artist's genre (every genre gets one first), latent vector and Zipf popularity."""
    a, g = cfg.n_artists, centroids.shape[0]
    genre = np.concatenate([np.arange(g), rng.choice(g, a - g, p=genre_pop)]).astype(np.int16)
    spread = unit_rows(rng.normal(size=(a, cfg.taste_dim))) * rng.uniform(0.3, 0.6, (a, 1))
    vectors = unit_rows(centroids[genre] + spread)
    popularity = 1.0 / (rng.permutation(a) + 1.0) ** cfg.zipf_exponent
    return genre, vectors, popularity


def _albums(
    cfg: WorldConfig, rng: np.random.Generator, track_artist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Album of each track (consecutive tracks of an artist) and each album's release day."""
    first = np.searchsorted(track_artist, track_artist)  # index of the artist's first track
    rank = np.arange(track_artist.size) - first
    album_key = track_artist.astype(np.int64) * (track_artist.size + 1) + rank // cfg.tracks_per_album
    _, track_album = np.unique(album_key, return_inverse=True)
    n_albums = int(track_album.max()) + 1
    new = rng.random(n_albums) < cfg.new_release_share
    new[0] = False  # at least one album is playable on day 0
    back = -np.minimum(rng.exponential(4 * 365, n_albums), 50 * 365).astype(np.int32) - 1
    release = np.where(new, rng.integers(0, cfg.days, n_albums), back).astype(np.int32)
    return track_album.astype(np.int32), release


def _audio_features(rng: np.random.Generator, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """A noisy projection of the latent vectors, squashed into each feature's range."""
    n, d = vectors.shape
    logits = vectors @ rng.normal(size=(d, len(FEATURES))) * 1.5 + rng.normal(size=(n, len(FEATURES))) * 0.6
    unit = {name: 1.0 / (1.0 + np.exp(-logits[:, i])) for i, name in enumerate(FEATURES)}
    unit["acousticness"] = 1.0 / (1.0 + np.exp(0.8 * logits[:, 1] - 0.6 * logits[:, 3]))  # quiet ≈ acoustic
    unit["speechiness"] = 0.02 + 0.5 * unit["speechiness"] ** 3
    unit["liveness"] = 0.03 + 0.6 * unit["liveness"] ** 4
    unit["tempo"] = 60.0 + 120.0 * unit["tempo"]
    unit["loudness"] = np.clip(-22.0 + 18.0 * unit["energy"] + rng.normal(0, 2.0, n), -60.0, 0.0)
    unit["key"] = rng.integers(0, 12, n).astype(np.int32)
    unit["mode"] = (rng.random(n) < 0.6).astype(np.int32)
    unit["time_signature"] = rng.choice(np.array([4, 3, 5], np.int32), n, p=[0.9, 0.07, 0.03])
    return {name: np.round(v, 3) if v.dtype.kind == "f" else v for name, v in unit.items()}


def build_catalog(cfg: WorldConfig) -> Catalog:
    """Build the catalog of ``cfg`` (deterministic in ``cfg.seed``).

    Example:
        >>> cat = build_catalog(WorldConfig(n_tracks=500))
        >>> cat.n_tracks, len(cat.artist_ids)
        (500, 25)
    """
    rng = np.random.default_rng([cfg.seed, 1])
    names, centroids, genre_pop = _genres(cfg, rng)
    genre, artist_vec, artist_pop = _artists(cfg, rng, centroids, genre_pop)
    a, t = len(genre), cfg.n_tracks
    extra = rng.choice(a, t - a, p=artist_pop**0.3 / (artist_pop**0.3).sum())
    track_artist = np.sort(np.concatenate([np.arange(a), extra])).astype(np.int32)
    track_album, album_release = _albums(cfg, rng, track_artist)
    noise = unit_rows(rng.normal(size=(t, cfg.taste_dim))) * rng.uniform(0.2, 0.45, (t, 1))
    track_vec = unit_rows(artist_vec[track_artist] + noise)
    genre_len = np.exp(rng.normal(np.log(215_000), 0.15, len(names)))
    duration = np.clip(genre_len[genre[track_artist]] * np.exp(rng.normal(0, 0.25, t)), 45_000, 900_000)
    explicit_rate = rng.beta(0.6, 3.0, len(names))
    return Catalog(
        genre_names=names, genre_centroids=centroids, genre_popularity=genre_pop,
        artist_ids=make_ids("artist", a, 4), artist_names=_artist_names(rng, a), artist_genre=genre,
        artist_vectors=artist_vec, artist_popularity=artist_pop,
        album_ids=make_ids("album", len(album_release), 5), album_names=_title_names(rng, len(album_release)),
        album_release_day=album_release,
        track_ids=make_ids("track", t, 6), track_names=_title_names(rng, t), track_artist=track_artist,
        track_album=track_album, track_vectors=track_vec,
        track_popularity=artist_pop[track_artist] * np.exp(rng.normal(0, 1.0, t)),
        duration_ms=duration.astype(np.int64), explicit=rng.random(t) < explicit_rate[genre[track_artist]],
        features=_audio_features(rng, track_vec),
        genre_order=np.argsort(genre[track_artist], kind="stable"),
    )
