"""Monitoring thresholds: code defaults, overridden by ``<workspace>/monitoring.toml``.

.. code-block:: toml

    alpha = 0.01              # a drift needs its test's p under this...
    count_change = 0.2        # ...and a daily count a change of this share from the reference median...
    [drift]                   # ...and its effect past its bound (z, PSI or a difference: monitoring/drift.py)
    skip_rate = 0.08
    country_mix = 0.2
    [quality]                 # guardrails on what was served (monitoring/quality.py)
    min_play_rate = 0.05      # plays within a day of an impression, per impression, per surface
    max_fallback_rate = 0.2   # lists answered by a fallback, not the personal model
    max_skip_rate = 0.6

An unknown key is an error naming it: a typo must not silently keep a default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FILE = "monitoring.toml"

#: each drift signal's default bound on its effect (monitoring/drift.py says which effect)
DRIFT_BOUNDS: dict[str, float] = {
    "volume": 4.0, "active_listeners": 4.0, "catalogue_growth": 4.0,
    "plays_per_listener": 0.2, "completion": 0.2,
    "skip_rate": 0.05, "new_tracks": 0.05, "new_artists": 0.05,
    "country_mix": 0.1, "platform_mix": 0.1, "surface_mix": 0.1,
}


class Quality(BaseModel):
    """Guardrails on the served lists of one period, per surface (a surface with fewer than ``min_lists``
    lists is not judged)."""

    model_config = ConfigDict(extra="forbid")

    min_play_rate: float = Field(0.02, ge=0, le=1)
    max_skip_rate: float = Field(0.7, ge=0, le=1)
    max_fallback_rate: float = Field(0.25, ge=0, le=1)
    min_lists: int = Field(50, ge=1)


class Bounds(BaseModel):
    """Every threshold monitoring uses."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.01, gt=0, lt=1)
    #: a daily count (volume, active listeners, catalogue growth) drifts only this far from its reference median
    count_change: float = Field(0.2, ge=0)
    drift: dict[str, float] = Field(default_factory=dict)
    quality: Quality = Field(default_factory=Quality)

    def model_post_init(self, _: object) -> None:
        unknown = sorted(set(self.drift) - set(DRIFT_BOUNDS))
        if unknown:
            raise ValueError(f"unknown drift signals {unknown}; known: {sorted(DRIFT_BOUNDS)}")

    def of(self, signal: str) -> float:
        """The bound on ``signal``'s effect."""
        return self.drift.get(signal, DRIFT_BOUNDS[signal])

    @classmethod
    def read(cls, workspace: Path) -> Bounds:
        """The workspace's ``monitoring.toml`` over the defaults (the defaults alone without one)."""
        path = workspace / FILE
        if not path.exists():
            return cls()
        try:
            return cls.model_validate(tomllib.loads(path.read_text()))
        except (tomllib.TOMLDecodeError, ValidationError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None
