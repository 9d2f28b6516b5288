"""From a measured lift to listening hours and revenue, under stated assumptions, with intervals.

The experiment measured per-user listening minutes over ``metric_days`` days on the listening the
change touches (a surface, or all listening with ``share_of_minutes_influenced = 1``). At launch:

* minutes gained per user over the period = ``diff / metric_days · period_days``;
* total hours = that × ``users`` / 60;
* relative change of all listening = ``rel_lift · share_of_minutes_influenced`` (the gained minutes add
  to the total: no cannibalization of other listening is assumed);
* revenue = ``users · arpu · revenue_elasticity ·`` that relative change, with ``arpu`` the revenue per
  user over the period and an elasticity of 1 meaning revenue moves in proportion to listening.

Every figure is linear in the effect, so its interval is the effect's interval mapped through the same
line (``diff`` for minutes and hours, ``rel_lift`` for revenue). The intervals carry sampling error only,
not uncertainty in the assumptions.

Example:
    >>> from tastemaker.experiments.stats import Effect
    >>> e = Effect("minutes", 40.0, 40.8, 50_000, 50_000, 0.8, 0.2, 1.4, 0.01, 0.02, 0.005, 0.035, 0.05)
    >>> asm = Assumptions(users=1_000_000, arpu=30.0, share_of_minutes_influenced=0.25, period_days=30)
    >>> i = impact(e, asm)
    >>> i.hours.estimate, i.hours.low, i.hours.high
    (400000.0, 100000.0, 700000.0)
    >>> round(i.revenue.estimate)
    150000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tastemaker.experiments.stats import Effect

__all__ = ["Assumptions", "Impact", "Interval", "impact"]


@dataclass(frozen=True)
class Assumptions:
    """What the translation from lift to business figures takes as given.

    Args:
        users: users who get the change at launch.
        arpu: revenue per user over ``period_days`` (any currency).
        share_of_minutes_influenced: share of a user's total listening minutes that the measured metric
            covers (1.0 when the experiment measured all listening).
        period_days: horizon of the projection, e.g. 365.
        metric_days: days the experiment's per-user metric spans (1 for minutes per user per day).
        revenue_elasticity: relative revenue change per relative change of total listening.
    """

    users: float
    arpu: float
    share_of_minutes_influenced: float
    period_days: float
    metric_days: float = 1.0
    revenue_elasticity: float = 1.0

    def __post_init__(self) -> None:
        if self.users < 0 or self.arpu < 0:
            raise ValueError("users and arpu must be non-negative")
        if not 0.0 < self.share_of_minutes_influenced <= 1.0:
            raise ValueError("share_of_minutes_influenced must be in (0, 1], "
                             f"got {self.share_of_minutes_influenced}")
        if not self.period_days > 0 or not self.metric_days > 0:
            raise ValueError("period_days and metric_days must be positive")


@dataclass(frozen=True)
class Interval:
    """A point estimate and its interval, ``low <= high``."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Impact:
    """Projected gains over ``Assumptions.period_days`` with the effect's confidence level."""

    minutes_per_user: Interval
    hours: Interval
    rel_total_listening: Interval
    revenue: Interval
    confidence: float

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-able form."""
        return asdict(self)


def _scaled(estimate: float, low: float, high: float, factor: float) -> Interval:
    ends = sorted((low * factor, high * factor))
    return Interval(estimate * factor, ends[0], ends[1])


def impact(effect: Effect, assumptions: Assumptions) -> Impact:
    """Translate a measured listening-minutes effect into minutes per user, total hours and revenue.

    Example:
        >>> e = Effect("minutes", 30.0, 30.3, 10**4, 10**4, 0.3, -0.1, 0.7, 0.14, 0.01, -0.003, 0.023, 0.05)
        >>> asm = Assumptions(users=10_000, arpu=10.0, share_of_minutes_influenced=1.0, period_days=7)
        >>> imp = impact(e, asm)
        >>> imp.minutes_per_user.estimate, imp.revenue.low < 0 < imp.revenue.high
        (2.1, True)
    """
    a = assumptions
    per_user = a.period_days / a.metric_days
    minutes = _scaled(effect.diff, effect.ci_low, effect.ci_high, per_user)
    hours = _scaled(minutes.estimate, minutes.low, minutes.high, a.users / 60.0)
    rel_total = _scaled(effect.rel_lift, effect.rel_ci_low, effect.rel_ci_high, a.share_of_minutes_influenced)
    money = a.users * a.arpu * a.revenue_elasticity
    revenue = _scaled(rel_total.estimate, rel_total.low, rel_total.high, money)
    return Impact(minutes, hours, rel_total, revenue, 1.0 - effect.alpha)
