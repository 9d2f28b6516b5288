"""Synthetic listeners: who they are (a fixed profile) and what they have become (mutable state).

A profile holds country, sign-up day, a latent taste mixed from a few genres, a heavy-tailed
activity level, session length, skip tendency and base churn hazard. The state holds each
listener's library (tracks in rotation, for re-listening and novelty), a running skip rate and
the day they churned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from tastemaker.simulate.behaviour import SURFACE_SHARE, Behaviour
from tastemaker.simulate.catalog import Catalog, SegmentSampler, make_ids, unit_rows
from tastemaker.simulate.config import WorldConfig

#: (country, language, UTC offset in hours), most listeners first.
COUNTRIES: tuple[tuple[str, str, int], ...] = (
    ("US", "en", -5), ("BR", "pt", -3), ("GB", "en", 0), ("DE", "de", 1), ("MX", "es", -6), ("FR", "fr", 1),
    ("ES", "es", 1), ("IN", "hi", 5), ("CA", "en", -5), ("AU", "en", 10), ("SE", "sv", 1), ("NL", "nl", 1),
    ("IT", "it", 1), ("PL", "pl", 1), ("JP", "ja", 9), ("ID", "id", 7), ("PH", "en", 8), ("TR", "tr", 3),
    ("AR", "es", -3), ("CO", "es", -5), ("CL", "es", -4), ("KR", "ko", 9), ("NO", "nb", 1), ("DK", "da", 1),
    ("FI", "fi", 2), ("BE", "nl", 1), ("AT", "de", 1), ("CH", "de", 1), ("IE", "en", 0), ("PT", "pt", 0),
    ("NZ", "en", 12), ("ZA", "en", 2), ("NG", "en", 1), ("EG", "ar", 2), ("SA", "ar", 3), ("AE", "ar", 4),
    ("TH", "th", 7), ("VN", "vi", 7), ("MY", "ms", 8), ("SG", "en", 8),
)
PLATFORMS: tuple[str, ...] = ("android", "ios", "desktop", "web", "tv", "speaker")
PLATFORM_SHARE = np.array([0.42, 0.30, 0.15, 0.07, 0.03, 0.03])
GENDERS: tuple[str, ...] = ("female", "male", "non-binary")
ONBOARDING_PICKS = 3
#: Mean share of a session's planned plays that are actually played (skips end some early).
PLAYED_SHARE = 0.66


@dataclass(frozen=True, slots=True, eq=False)
class Listeners:
    """Fixed listener profiles as aligned arrays (index ``i`` is ``ids[i]``)."""

    ids: pa.StringArray
    country: np.ndarray
    signup_day: np.ndarray  # relative to the world's start; negative: signed up before it
    age: np.ndarray
    gender: np.ndarray
    genres: np.ndarray  # (n, genres_per_user) genre indices
    genre_cum: np.ndarray  # (n, genres_per_user) cumulative genre weights
    taste: np.ndarray  # (n, taste_dim) unit vectors
    sessions_per_day: np.ndarray
    session_mean: np.ndarray
    skip_bias: np.ndarray
    novelty_aversion: np.ndarray
    churn_base: np.ndarray
    platform: np.ndarray
    surface_cum: np.ndarray  # (n, len(SURFACES)) cumulative surface preferences
    onboarding: np.ndarray  # (n, ONBOARDING_PICKS) artist indices, -1 for no pick

    @property
    def n(self) -> int:
        """Number of listeners."""
        return len(self.ids)

    def sample_genres(self, users: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One genre per element of ``users`` from their taste mix, using uniforms ``u``."""
        slot = (u[:, None] >= self.genre_cum[users]).sum(axis=1)
        return self.genres[users, np.minimum(slot, self.genres.shape[1] - 1)]


@dataclass(slots=True, eq=False)
class ListenerState:
    """What listening changed: libraries, recent skip rate, churn. Mutated day by day.

    ``library[u]`` is a ring buffer of track indices (``-1``: empty); ``added[u]`` counts inserts.
    ``churn_day[u]`` is the first day ``u`` no longer listens (a large number while active).
    """

    library: np.ndarray
    added: np.ndarray
    skip_ema: np.ndarray
    churn_day: np.ndarray

    ACTIVE: ClassVar[int] = int(np.iinfo(np.int32).max)

    @classmethod
    def fresh(cls, n: int, library_size: int) -> ListenerState:
        """Empty libraries, nobody churned."""
        return cls(
            library=np.full((n, library_size), -1, np.int32),
            added=np.zeros(n, np.int64),
            skip_ema=np.full(n, 0.3, np.float32),
            churn_day=np.full(n, cls.ACTIVE, np.int32),
        )

    def contains(self, users: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Whether each track is in its listener's library."""
        return (self.library[users] == tracks[:, None]).any(axis=1)

    def pick(self, users: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A random library track per listener (``-1`` where the library is empty)."""
        filled = np.minimum(self.added[users], self.library.shape[1])
        slot = np.minimum((u * filled).astype(np.int64), np.maximum(filled - 1, 0))
        return np.where(filled > 0, self.library[users, slot], -1)

    def add(self, users: np.ndarray, tracks: np.ndarray) -> None:
        """Put tracks into libraries (newest overwrite oldest); ignores tracks already there.

        Example:
            >>> s = ListenerState.fresh(2, library_size=3)
            >>> s.add(np.array([0, 0, 1]), np.array([5, 5, 9], np.int32))
            >>> s.contains(np.array([0, 1, 1]), np.array([5, 9, 5])).tolist(), s.added.tolist()
            ([True, True, False], [1, 1])
        """
        keep = ~self.contains(users, tracks)
        pairs = np.unique(users[keep].astype(np.int64) * (2**32) + tracks[keep])
        users, tracks = pairs // 2**32, (pairs % 2**32).astype(np.int32)
        first = np.searchsorted(users, users)
        rank = np.arange(users.size) - first
        size = self.library.shape[1]
        slot = (self.added[users] + rank) % size
        self.library[users, slot] = tracks  # with more than `size` inserts the last one wins a slot
        np.add.at(self.added, users, 1)

    def remember_skips(self, users: np.ndarray, skipped: np.ndarray, memory: float) -> None:
        """Fold each listener's skip rate of the day into their running skip rate."""
        if users.size == 0:
            return
        listeners, inverse = np.unique(users, return_inverse=True)
        rate = np.bincount(inverse, weights=skipped).astype(np.float32) / np.bincount(inverse)
        self.skip_ema[listeners] = (1 - memory) * self.skip_ema[listeners] + memory * rate


def _country_genres(
    cfg: WorldConfig, rng: np.random.Generator, cat: Catalog, country: np.ndarray
) -> np.ndarray:
    """Each listener's genres, drawn from their country's taste (global popularity, locally tilted)."""
    n_c, n_g = cfg.n_countries, len(cat.genre_names)
    tilt = cat.genre_popularity * np.exp(rng.normal(0, 0.8, (n_c, n_g)))
    by_country = SegmentSampler.build(np.repeat(np.arange(n_c), n_g), tilt.ravel(), n_c, np.arange(n_c * n_g))
    u = rng.random(country.size * cfg.genres_per_user)
    flat = by_country.sample(np.repeat(country.astype(np.int64), cfg.genres_per_user), u) % n_g
    return flat.reshape(country.size, cfg.genres_per_user)


def _taste(
    cfg: WorldConfig, rng: np.random.Generator, cat: Catalog, genres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Genre weights (cumulative, first genre strongest) and the unit taste vector they mix."""
    k = cfg.genres_per_user
    weights = rng.dirichlet(3.0 * 0.5 ** np.arange(k), genres.shape[0]).astype(np.float32)
    mix = np.einsum("nk,nkd->nd", weights, cat.genre_centroids[genres])
    taste = unit_rows(mix + unit_rows(rng.normal(size=mix.shape)) * rng.uniform(0.1, 0.4, (mix.shape[0], 1)))
    return np.cumsum(weights, axis=1), taste


def _signup(cfg: WorldConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """Sign-up days: most listeners before the start (up to 3 years), some during the period."""
    new = rng.random(n) < cfg.new_user_share
    return np.where(new, rng.integers(0, cfg.days, n), -rng.integers(1, 3 * 365, n)).astype(np.int32)


def _activity(cfg: WorldConfig, rng: np.random.Generator, signup: np.ndarray, churn: np.ndarray,
              session_mean: np.ndarray) -> np.ndarray:
    """Sessions per active day, heavy-tailed, scaled so the mean listener makes ``events_per_user`` plays."""
    level = rng.lognormal(0.0, 1.0, signup.size)
    span = cfg.days - np.maximum(signup, 0)
    active_days = np.where(churn > 0, (1 - (1 - churn) ** span) / np.maximum(churn, 1e-12), span)
    plays_per_day = cfg.events_per_user / max(float(active_days.mean()), 1e-9)
    return (level / level.mean() * plays_per_day / (session_mean * PLAYED_SHARE)).astype(np.float32)


def build_listeners(cfg: WorldConfig, cat: Catalog) -> Listeners:
    """Build the listeners of ``cfg`` (deterministic in ``cfg.seed``).

    Example:
        >>> from tastemaker.simulate.catalog import build_catalog
        >>> cfg = WorldConfig(n_users=100, n_tracks=500)
        >>> build_listeners(cfg, build_catalog(cfg)).taste.shape
        (100, 16)
    """
    rng = np.random.default_rng([cfg.seed, 2])
    n = cfg.n_users
    share = 1.0 / np.arange(1, cfg.n_countries + 1) ** 1.1
    country = rng.choice(cfg.n_countries, n, p=share / share.sum()).astype(np.int16)
    genres = _country_genres(cfg, rng, cat, country)
    genre_cum, taste = _taste(cfg, rng, cat, genres)
    signup = _signup(cfg, rng, n)
    churn = (cfg.churn_rate * rng.lognormal(-0.125, 0.5, n)).clip(0, 1).astype(np.float32)
    session_mean = (cfg.session_length * rng.lognormal(-0.08, 0.4, n)).astype(np.float32)
    surfaces = rng.dirichlet(8.0 * SURFACE_SHARE, n)
    artists = SegmentSampler.build(cat.artist_genre, cat.artist_popularity, len(cat.genre_names))
    picks = rng.random((n, ONBOARDING_PICKS))
    chosen = [genres[np.arange(n), np.minimum((picks[:, j : j + 1] >= genre_cum).sum(1), genres.shape[1] - 1)]
              for j in range(ONBOARDING_PICKS)]
    onboarding = np.stack([artists.sample(g, rng.random(n)) for g in chosen], axis=1)
    for j in range(1, ONBOARDING_PICKS):  # a listener names each artist once
        onboarding[(onboarding[:, j : j + 1] == onboarding[:, :j]).any(axis=1), j] = -1
    return Listeners(
        ids=make_ids("user", n, 6), country=country, signup_day=signup,
        age=np.clip(rng.normal(29, 10, n), 13, 85).astype(np.int32),
        gender=rng.choice(len(GENDERS), n, p=[0.48, 0.48, 0.04]).astype(np.int8),
        genres=genres.astype(np.int16), genre_cum=genre_cum, taste=taste,
        sessions_per_day=_activity(cfg, rng, signup, churn, session_mean), session_mean=session_mean,
        skip_bias=rng.normal(0, 0.5, n).astype(np.float32),
        novelty_aversion=rng.lognormal(-0.125, 0.5, n).astype(np.float32), churn_base=churn,
        platform=rng.choice(len(PLATFORMS), n, p=PLATFORM_SHARE).astype(np.int8),
        surface_cum=np.cumsum(surfaces, axis=1).astype(np.float32), onboarding=onboarding,
    )


def seed_libraries(state: ListenerState, cfg: WorldConfig, listeners: Listeners, cat: Catalog,
                   behaviour: Behaviour) -> None:
    """Give listeners who signed up before the start a library of taste-matched back catalog.

    New listeners start empty: they are the cold-start users.
    """
    rng = np.random.default_rng([cfg.seed, 3])
    day0 = cat.playable(0, behaviour)
    veterans = np.flatnonzero(listeners.signup_day < 0)
    size = rng.binomial(cfg.library_size, 0.5, veterans.size)
    users = np.repeat(veterans, size)
    slot = np.arange(users.size) - np.repeat(np.cumsum(size) - size, size)
    genres = listeners.sample_genres(users, rng.random(users.size))
    # a hit may land twice in one library: it is then simply played more often
    state.library[users, slot] = day0.by_genre.sample(genres, rng.random(users.size))
    state.added[veterans] = size
