"""Team-draft interleaving: compare two rankers on the same listeners with one mixed list each.

Team draft (Radlinski, Kurup and Joachims 2008): the two rankers take turns, like captains picking
teams, the one with fewer picks so far going next and a coin deciding ties; each adds its best
item not yet in the list, and the item is credited to its team. A play (a click) credits the team
that placed the item; a listener (the "query") prefers the ranker whose team got more credit.

Statistics follow Chapelle, Joachims, Radlinski and Yue (2012): over ``n`` listeners with
``wins`` for A, ``losses`` and ``ties``, ``delta = (wins + ties / 2) / n - 1/2`` (> 0: A is
preferred), with a bootstrap interval over listeners and a two-sided sign (binomial) test of
wins against losses. Interleaving needs far fewer listeners than an A/B test of the same change
because every listener sees both rankers.

Example:
    >>> rng = np.random.default_rng(0)
    >>> mixed = team_draft(["a", "b", "c"], ["c", "d", "a"], 4, rng)
    >>> sorted(mixed.items)
    ['a', 'b', 'c', 'd']
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

A, B = 0, 1  # team codes


@dataclass(frozen=True, slots=True)
class Interleaved:
    """A mixed list and, aligned with it, the team (``0`` = A, ``1`` = B) that placed each item."""

    items: list[Hashable]
    teams: np.ndarray


def team_draft(ranking_a: Sequence[Hashable], ranking_b: Sequence[Hashable], k: int,
               rng: np.random.Generator) -> Interleaved:
    """Interleave two rankings into a list of at most ``k`` items by team draft.

    When one ranking runs out of new items the other fills the rest of the list.

    Example:
        >>> mixed = team_draft(["x", "y"], ["x", "y"], 2, np.random.default_rng(1))
        >>> mixed.items, sorted(mixed.teams.tolist())
        (['x', 'y'], [0, 1])
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rankings = (list(ranking_a), list(ranking_b))
    cursor, picks = [0, 0], [0, 0]
    items: list[Hashable] = []
    teams: list[int] = []
    seen: set[Hashable] = set()
    while len(items) < k:
        for team in (A, B):  # move each cursor past items already in the list
            while cursor[team] < len(rankings[team]) and rankings[team][cursor[team]] in seen:
                cursor[team] += 1
        left = [cursor[t] < len(rankings[t]) for t in (A, B)]
        if not any(left):
            break
        if all(left):
            team = A if picks[A] < picks[B] or (picks[A] == picks[B] and rng.random() < 0.5) else B
        else:
            team = A if left[A] else B
        item = rankings[team][cursor[team]]
        items.append(item)
        teams.append(team)
        seen.add(item)
        picks[team] += 1
    return Interleaved(items, np.array(teams, np.int8))


def credit(teams: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """Plays credited to each team: ``(..., 2)`` counts from aligned ``teams`` and boolean ``clicks``.

    ``teams`` may hold ``-1`` for padding (no item).

    Example:
        >>> credit(np.array([0, 1, 0, 1]), np.array([True, True, True, False])).tolist()
        [2, 1]
    """
    teams, clicks = np.asarray(teams), np.asarray(clicks, bool)
    if teams.shape != clicks.shape:
        raise ValueError(f"teams {teams.shape} and clicks {clicks.shape} must have the same shape")
    return np.stack([((teams == t) & clicks).sum(axis=-1) for t in (A, B)], axis=-1)


def preferences(user_ids: Sequence[Hashable], credits: np.ndarray) -> np.ndarray:
    """Each listener's preference, +1 (A), -1 (B) or 0, from per-impression ``credits`` ``(n, 2)``.

    A listener with several impressions is one unit: their credits are summed first, so heavy
    listeners do not count more than others. Listeners come out in order of first appearance.

    Example:
        >>> preferences(["u1", "u1", "u2"], np.array([[1, 0], [0, 2], [0, 0]])).tolist()
        [-1, 0]
    """
    credits = np.asarray(credits)
    if credits.ndim != 2 or credits.shape != (len(user_ids), 2):
        raise ValueError(f"credits must have shape ({len(user_ids)}, 2), got {credits.shape}")
    _, first, index = np.unique(np.asarray(user_ids, dtype=object).astype(str), return_index=True,
                                return_inverse=True)
    totals = np.zeros((first.size, 2), np.int64)
    np.add.at(totals, index, credits)
    order = np.argsort(first)
    return np.sign(totals[order, 0] - totals[order, 1]).astype(np.int64)


@dataclass(frozen=True, slots=True)
class InterleavingResult:
    """``delta`` > 0: ranker A is preferred; interval by bootstrap over listeners, p-value by sign test."""

    n: int
    wins_a: int
    wins_b: int
    ties: int
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain JSON-able form."""
        return asdict(self)


def _delta(wins: np.ndarray, losses: np.ndarray, n: int) -> np.ndarray:
    return (wins + (n - wins - losses) / 2) / n - 0.5


def compare(prefs: np.ndarray, *, alpha: float = 0.05, n_boot: int = 2000,
            seed: int = 0) -> InterleavingResult:
    """Statistics of per-listener preferences (+1 A, -1 B, 0 tie), as in Chapelle et al. (2012).

    Example:
        >>> round(compare(np.array([1] * 30 + [-1] * 10 + [0] * 10)).delta, 6)
        0.2
    """
    prefs = np.asarray(prefs)
    if prefs.ndim != 1 or prefs.size == 0 or not np.isin(prefs, (-1, 0, 1)).all():
        raise ValueError("prefs must be a non-empty 1-d array of -1, 0 and 1")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n, wins, losses = prefs.size, int((prefs > 0).sum()), int((prefs < 0).sum())
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [wins / n, losses / n, 1 - (wins + losses) / n], size=n_boot)
    boots = _delta(counts[:, 0], counts[:, 1], n)
    p = 1.0 if wins + losses == 0 else float(stats.binomtest(wins, wins + losses, 0.5).pvalue)
    delta = float(_delta(np.array(wins), np.array(losses), n))
    return InterleavingResult(n, wins, losses, n - wins - losses, delta, float(np.quantile(boots, alpha / 2)),
                              float(np.quantile(boots, 1 - alpha / 2)), p, alpha)
