"""The typed configuration of a synthetic world: sizes, time span, and the listener model."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tastemaker.simulate.behaviour import Behaviour

#: Plays simulated per (day, block of users); bounds memory whatever the world's size.
PLAYS_PER_BLOCK = 1_000_000


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Everything that determines a world. The same config always builds the same world.

    Args:
        seed: the random seed; every random draw of the world derives from it.
        n_users: listeners.
        n_tracks: catalog tracks.
        tracks_per_artist: mean tracks per artist (``n_artists = n_tracks / tracks_per_artist``).
        tracks_per_album: tracks per album.
        n_genres: genres (at most one per artist is used when the catalog is tiny).
        n_countries: listener countries, from a fixed list of 40 with a skewed share.
        days: length of the simulated history, starting at ``start`` (UTC midnight).
        start: the first simulated day.
        events_per_user: mean plays per listener over the period (heavy-tailed across listeners;
            churn and late sign-ups are accounted for, so the realised mean is close to it).
        taste_dim: dimension of the latent taste space of listeners, artists and tracks.
        genres_per_user: genres mixed into each listener's taste.
        session_length: mean planned plays per session (skips sometimes end one earlier).
        churn_rate: mean daily churn hazard of a listener at a typical skip rate.
        new_release_share: share of albums released during the period (the rest is back catalog).
        new_user_share: share of listeners who sign up during the period (cold-start users).
        zipf_exponent: exponent of the artists' popularity power law.
        library_size: tracks a listener keeps in rotation (saved or loved) for re-listening.
        behaviour: the coefficients of the listener model.

    Example:
        >>> WorldConfig(n_users=1_000_000, events_per_user=10).n_artists
        1000
    """

    seed: int = 0
    n_users: int = 2_000
    n_tracks: int = 20_000
    tracks_per_artist: float = 20.0
    tracks_per_album: int = 10
    n_genres: int = 24
    n_countries: int = 30
    days: int = 60
    start: date = date(2024, 1, 1)
    events_per_user: float = 100.0
    taste_dim: int = 16
    genres_per_user: int = 3
    session_length: float = 12.0
    churn_rate: float = 0.002
    new_release_share: float = 0.1
    new_user_share: float = 0.2
    zipf_exponent: float = 1.0
    library_size: int = 32
    behaviour: Behaviour = field(default_factory=Behaviour)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        positive = ("n_users", "n_tracks", "n_genres", "n_countries", "days", "taste_dim", "genres_per_user",
                    "library_size", "tracks_per_album")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("tracks_per_artist", "session_length", "zipf_exponent"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.events_per_user >= 0 or not math.isfinite(self.events_per_user):
            raise ValueError(f"events_per_user must be >= 0, got {self.events_per_user}")
        for name, top in (("churn_rate", 1.0), ("new_release_share", 0.9), ("new_user_share", 1.0)):
            if not 0.0 <= getattr(self, name) <= top:
                raise ValueError(f"{name} must be in [0, {top}], got {getattr(self, name)}")
        if self.n_countries > 40:
            raise ValueError(f"n_countries must be at most 40 (the built-in list), got {self.n_countries}")

    @property
    def n_artists(self) -> int:
        """Artists in the catalog (at least one, at most one per track)."""
        return max(1, min(self.n_tracks, round(self.n_tracks / self.tracks_per_artist)))

    @property
    def genres(self) -> int:
        """Genres actually used: ``n_genres``, or fewer when there are fewer artists."""
        return min(self.n_genres, self.n_artists)

    @property
    def end(self) -> date:
        """The day after the last simulated day."""
        return self.start + timedelta(days=self.days)

    def block_users(self) -> int:
        """Listeners simulated together per day: about :data:`PLAYS_PER_BLOCK` plays at a time."""
        per_day = max(self.events_per_user / self.days, 1e-9)
        return max(1_000, min(self.n_users, int(PLAYS_PER_BLOCK / per_day)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the inverse of :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["start"] = self.start.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys raise ``TypeError``.

        Example:
            >>> WorldConfig.from_dict(WorldConfig(seed=3).to_dict()) == WorldConfig(seed=3)
            True
        """
        values = dict(data)
        if isinstance(values.get("start"), str):
            values["start"] = date.fromisoformat(values["start"])
        if isinstance(values.get("behaviour"), dict):
            values["behaviour"] = Behaviour(**values["behaviour"])
        return cls(**values)
