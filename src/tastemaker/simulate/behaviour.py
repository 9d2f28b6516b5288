"""How a synthetic listener reacts to a track: skip or finish, when, and what follows (save, ban...).

These functions are the one behaviour model of the world. The organic history
(:meth:`World.generate_events`) and the closed-loop hook (:meth:`World.respond`) both call them,
so a policy run against the simulator meets the same listeners that produced its training data.
Every function works on whole arrays, one element per play.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from tastemaker.domain import SKIP_THRESHOLD_MS

#: Surfaces a session can start from, and where its tracks come from there:
#: (re-listening the library, taste-matched catalog, popular tracks).
SURFACES: tuple[str, ...] = ("library", "playlist", "radio", "search", "home")
SOURCE_MIX: np.ndarray = np.array(
    [
        [0.75, 0.20, 0.05],  # library: mostly the listener's own favourites
        [0.15, 0.50, 0.35],  # playlist: editorial lists lean on popular tracks
        [0.15, 0.75, 0.10],  # radio: taste-matched
        [0.25, 0.65, 0.10],  # search: the listener asked for it
        [0.25, 0.45, 0.30],  # home: a bit of everything
    ]
)
SURFACE_SHARE: np.ndarray = np.array([0.30, 0.30, 0.15, 0.10, 0.15])
#: Surfaces whose first track the listener picked on purpose (lower skip odds).
INTENT_SURFACES: np.ndarray = np.array([True, False, False, True, False])


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The coefficients of the listener model. Defaults give about 35 % skips and 4 % saves.

    Skips follow a logistic model::

        logit P(skip) = intercept - match_weight * (match - match_centre)
                        + fatigue * log1p(position) + novelty_aversion * novel
                        + user_bias - intent_bonus * intent

    where ``match`` is the dot product of the listener's taste and the track's latent vector.

    Example:
        >>> Behaviour(fatigue=0.5).fatigue
        0.5
    """

    intercept: float = -0.9
    match_weight: float = 5.0
    match_centre: float = 0.45
    fatigue: float = 0.3
    novelty_aversion: float = 0.7
    intent_bonus: float = 1.0
    early_skip_share: float = 0.65
    quit_after_skip: float = 0.12
    save_rate: float = 0.2
    save_midpoint: float = 0.6
    like_threshold: float = 0.55
    playlist_rate: float = 0.04
    follow_rate: float = 0.15
    ban_rate: float = 0.08
    replay_rate: float = 0.03
    churn_sensitivity: float = 4.0
    skip_memory: float = 0.2
    release_boost: float = 4.0
    release_half_life_days: float = 10.0

    def __post_init__(self) -> None:
        for name in ("quit_after_skip", "save_rate", "playlist_rate", "follow_rate", "ban_rate",
                     "replay_rate", "early_skip_share", "skip_memory"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                value = getattr(self, name)
                raise ValueError(f"Behaviour.{name} must be a probability in [0, 1], got {value}")
        if self.release_half_life_days <= 0:
            raise ValueError("Behaviour.release_half_life_days must be > 0")


@dataclass(frozen=True, slots=True)
class Listens:
    """The outcome of a batch of plays: whether each was skipped and how long it played."""

    skipped: np.ndarray
    ms_played: np.ndarray


@dataclass(frozen=True, slots=True)
class Reactions:
    """What listeners did besides playing: one boolean array per action, aligned with the plays."""

    save: np.ndarray
    add_to_playlist: np.ndarray
    follow_artist: np.ndarray
    ban: np.ndarray
    replay: np.ndarray
    liked: np.ndarray  # finished and well matched: the track joins the listener's rotation

    @classmethod
    def concat(cls, parts: Sequence[Reactions]) -> Reactions:
        """Join batches of reactions, in order."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def skip_probability(
    b: Behaviour,
    match: np.ndarray,
    position: np.ndarray,
    novel: np.ndarray,
    user_bias: np.ndarray,
    novelty_aversion: np.ndarray,
    intent: np.ndarray,
) -> np.ndarray:
    """The probability that each play is skipped.

    Args:
        b: the model coefficients.
        match: taste · track vector, roughly in [-1, 1]; higher means a better fit.
        position: 0-based position of the play in its session (later plays tire the listener).
        novel: the track is not in the listener's library yet.
        user_bias: the listener's own skip tendency (added to the logit).
        novelty_aversion: the listener's multiplier on ``b.novelty_aversion``.
        intent: the listener chose this track on purpose (search, library click).

    Returns:
        float array in (0, 1), one per play.

    Example:
        >>> b = Behaviour()
        >>> p = skip_probability(b, np.array([0.9, 0.0]), np.zeros(2), np.ones(2, bool), np.zeros(2),
        ...                      np.ones(2), np.zeros(2, bool))
        >>> bool(p[0] < p[1])
        True
    """
    logit = (
        b.intercept
        - b.match_weight * (match - b.match_centre)
        + b.fatigue * np.log1p(position)
        + b.novelty_aversion * novelty_aversion * novel
        + user_bias
        - b.intent_bonus * intent
    )
    return _sigmoid(logit)


def listen(
    b: Behaviour, rng: np.random.Generator, p_skip: np.ndarray, match: np.ndarray, duration_ms: np.ndarray
) -> Listens:
    """Draw skips and the moment of each skip; finished plays last the whole track.

    Poorly matched tracks are skipped early (within the first 30 s), others anywhere after that.

    Args:
        b: the model coefficients (``early_skip_share`` at an average match).
        rng: the random generator (three draws per play, in a fixed order).
        p_skip: from :func:`skip_probability`.
        match: taste · track vector, as given to :func:`skip_probability`.
        duration_ms: the track lengths.

    Returns:
        :class:`Listens` with ``skipped`` (bool) and ``ms_played`` (int64).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> out = listen(Behaviour(), rng, np.array([1.0, 0.0]), np.zeros(2), np.full(2, 200_000))
        >>> out.skipped.tolist(), int(out.ms_played[1])
        ([True, False], 200000)
    """
    n = p_skip.shape[0]
    skipped = rng.random(n) < p_skip
    p_early = np.clip(b.early_skip_share - 0.8 * (match - b.match_centre), 0.05, 0.95)
    early = rng.random(n) < p_early
    u = rng.random(n)
    early_ms = np.minimum(1_000 + (-9_000 * np.log1p(-u * 0.95)), SKIP_THRESHOLD_MS - 1)
    late_ms = SKIP_THRESHOLD_MS + u * np.maximum(0.9 * duration_ms - SKIP_THRESHOLD_MS, 0)
    skip_ms = np.where(early, early_ms, late_ms)
    ms = np.where(skipped, np.minimum(skip_ms, duration_ms - 1_000), duration_ms)
    return Listens(skipped=skipped, ms_played=np.maximum(ms, 0).astype(np.int64))


def react(
    b: Behaviour, rng: np.random.Generator, match: np.ndarray, listens: Listens, novel: np.ndarray
) -> Reactions:
    """Draw the actions that follow a play.

    Saves and playlist adds follow finished, well-matched plays (saves only of tracks not yet in
    the library); a save sometimes also follows the artist; early skips of poorly matched tracks
    are sometimes banned; a well-liked finished track is sometimes replayed at once.

    Example:
        >>> lis = Listens(np.array([False, True]), np.array([200_000, 2_000]))
        >>> r = react(Behaviour(save_rate=1.0, save_midpoint=-9), np.random.default_rng(0),
        ...           np.array([0.9, -0.5]), lis, np.ones(2, bool))
        >>> r.save.tolist()
        [True, False]
    """
    n = match.shape[0]
    done = ~listens.skipped
    fit = _sigmoid(12.0 * (match - b.save_midpoint))
    draws = rng.random((5, n))
    save = done & novel & (draws[0] < b.save_rate * fit)
    early = listens.skipped & (listens.ms_played < SKIP_THRESHOLD_MS)
    return Reactions(
        save=save,
        add_to_playlist=done & (draws[1] < b.playlist_rate * fit),
        follow_artist=save & (draws[2] < b.follow_rate),
        ban=early & novel & (draws[3] < b.ban_rate * _sigmoid(-10.0 * match)),
        replay=done & (draws[4] < b.replay_rate * fit),
        liked=done & (match > b.like_threshold),
    )


def keeps_listening(b: Behaviour, rng: np.random.Generator, skipped: np.ndarray) -> np.ndarray:
    """Whether each listener goes on after this play: a skip sometimes ends the session.

    Example:
        >>> keeps_listening(Behaviour(quit_after_skip=1.0), np.random.default_rng(0), np.array([True, False]))
        array([False,  True])
    """
    return ~(skipped & (rng.random(skipped.shape[0]) < b.quit_after_skip))


def session_lengths(rng: np.random.Generator, mean_plays: np.ndarray, cap: int = 200) -> np.ndarray:
    """Planned plays per session: geometric around each listener's mean, at least 1, at most ``cap``.

    Example:
        >>> session_lengths(np.random.default_rng(0), np.full(1000, 10.0)).mean().round()
        np.float64(10.0)
    """
    p = 1.0 / np.maximum(mean_plays, 1.0)
    return np.minimum(rng.geometric(p), cap).astype(np.int32)


def churn_hazard(b: Behaviour, base: np.ndarray, skip_ema: np.ndarray, reference: float = 0.3) -> np.ndarray:
    """Daily churn probability: each listener's base hazard, raised when they skip a lot lately.

    Example:
        >>> h = churn_hazard(Behaviour(), np.full(2, 0.01), np.array([0.1, 0.8]))
        >>> bool(h[1] > h[0])
        True
    """
    return np.clip(base * np.exp(b.churn_sensitivity * (skip_ema - reference)), 0.0, 1.0)
