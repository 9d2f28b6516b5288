"""Who sees which variant: deterministic salted hashing, layers, long-term holdouts and targeting.

A listener's bucket in an experiment is ``xxh64("<salt>:<user_id>") % 10_000`` (seed 0), so the
same listener gets the same variant in every process, language and year, with no lookup table.

- **Layers**: experiments in one layer are mutually exclusive. The *layer* salt hashes a listener
  to a layer bucket; each experiment of the layer owns a disjoint range of those buckets (its
  ``traffic`` share, in the order the experiments are given). Experiments in different layers are
  hashed independently, so a listener can be in one experiment per layer.
- **Variants**: the *experiment* salt (its name unless given) hashes a listener to a second bucket
  that the variant weights split into consecutive ranges.
- **Holdout**: ``holdout_share`` of all listeners (by its own salt) are in no experiment at all,
  the long-term control that measures the sum of every launched change.
- **Targeting**: a predicate over the listener's attributes (``country``, ``platform``,
  ``tenure`` = ``new``/``established``); :class:`Segment` builds the common ones.

Example:
    >>> exp = Experiment("radio-mmr", [Variant("control"), Variant("mmr")], layer="radio")
    >>> assigner = Assigner([exp], holdout_share=0.05)
    >>> assigner.assign("tm:user:000042", "radio-mmr") in {"control", "mmr", None}
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl
import xxhash

BUCKETS = 10_000
Attributes = Mapping[str, str]
Targeting = Callable[[Attributes], bool]


def bucket(salt: str, user_id: str) -> int:
    """The bucket in ``[0, 10_000)`` of ``user_id`` under ``salt``: ``xxh64(f"{salt}:{user_id}") % 10_000``.

    Example:
        >>> bucket("holdout", "tm:user:000001") == xxhash.xxh64_intdigest(b"holdout:tm:user:000001") % 10_000
        True
    """
    return xxhash.xxh64_intdigest(f"{salt}:{user_id}".encode()) % BUCKETS


def buckets(salt: str, user_ids: Sequence[str]) -> np.ndarray:
    """:func:`bucket` of every id, as an int64 array."""
    return np.fromiter((bucket(salt, u) for u in user_ids), np.int64, len(user_ids))


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm of an experiment; ``weight`` is relative to the other arms' weights."""

    name: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("variant name must not be empty")
        if not self.weight > 0:
            raise ValueError(f"variant {self.name!r}: weight must be > 0, got {self.weight}")


@dataclass(frozen=True, slots=True)
class Segment:
    """A targeting predicate: every given criterion must hold (``None`` = any value).

    Example:
        >>> Segment(countries=frozenset({"SE", "NO"}), tenure="new")({"country": "SE", "tenure": "new"})
        True
        >>> Segment(platforms=frozenset({"ios"}))({"platform": "android"})
        False
    """

    countries: frozenset[str] | None = None
    platforms: frozenset[str] | None = None
    tenure: str | None = None  # "new" or "established"

    def __post_init__(self) -> None:
        if self.tenure not in (None, "new", "established"):
            raise ValueError(f"tenure must be 'new', 'established' or None, got {self.tenure!r}")

    def __call__(self, attributes: Attributes) -> bool:
        return ((self.countries is None or attributes.get("country") in self.countries)
                and (self.platforms is None or attributes.get("platform") in self.platforms)
                and (self.tenure is None or attributes.get("tenure") == self.tenure))


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment: its arms, hashing salt, layer, targeting and share of the layer's traffic.

    Args:
        name: unique name.
        variants: the arms (at least two); weights are relative.
        salt: the variant hashing salt; the name when omitted. A new salt reshuffles everyone.
        layer: experiments of one layer never share a listener.
        targeting: ``attributes -> bool``; listeners for whom it is false are not in the experiment.
        traffic: share of the layer's buckets this experiment owns; ``None`` splits what the layer's
            explicit shares leave equally among its experiments without one.
    """

    name: str
    variants: Sequence[Variant]
    salt: str | None = None
    layer: str = "default"
    targeting: Targeting | None = None
    traffic: float | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("experiment name must not be empty")
        names = [v.name for v in self.variants]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r} needs at least two variants with distinct names, "
                             f"got {names}")
        if self.traffic is not None and not 0 < self.traffic <= 1:
            raise ValueError(f"experiment {self.name!r}: traffic must be in (0, 1], got {self.traffic}")

    @property
    def variant_salt(self) -> str:
        """The salt of the variant hash."""
        return self.salt if self.salt is not None else self.name

    def variant_edges(self) -> np.ndarray:
        """Upper bucket bound (exclusive) of each variant's range: cumulative weights scaled to 10,000."""
        weights = np.array([v.weight for v in self.variants], float)
        return np.round(np.cumsum(weights) / weights.sum() * BUCKETS).astype(np.int64)


def _layer_ranges(experiments: Sequence[Experiment]) -> dict[str, tuple[int, int]]:
    """``name -> [lo, hi)`` layer-bucket range of each experiment of one layer, in the given order."""
    explicit = sum(e.traffic for e in experiments if e.traffic is not None)
    if explicit > 1 + 1e-9:
        raise ValueError(f"layer {experiments[0].layer!r}: traffic shares add up to {explicit:.3f} > 1")
    implicit = [e for e in experiments if e.traffic is None]
    rest = (1.0 - explicit) / len(implicit) if implicit else 0.0
    ranges, lo = {}, 0
    for e in experiments:
        share = e.traffic if e.traffic is not None else rest
        hi = min(BUCKETS, lo + round(share * BUCKETS))
        ranges[e.name] = (lo, hi)
        lo = hi
    return ranges


class Assigner:
    """Assigns listeners to the variants of a set of experiments.

    Args:
        experiments: every running experiment (names unique).
        holdout_share: share of listeners in no experiment, in [0, 1).
        holdout_salt: the holdout's hashing salt.

    Example:
        >>> a = Assigner([Experiment("e1", [Variant("a"), Variant("b")], layer="L"),
        ...               Experiment("e2", [Variant("a"), Variant("b")], layer="L")])
        >>> sum(x is not None for x in (a.assign("u7", "e1"), a.assign("u7", "e2")))
        1
    """

    def __init__(self, experiments: Sequence[Experiment], holdout_share: float = 0.0,
                 holdout_salt: str = "holdout") -> None:
        if not 0.0 <= holdout_share < 1.0:
            raise ValueError(f"holdout_share must be in [0, 1), got {holdout_share}")
        names = [e.name for e in experiments]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment names must be unique, got {names}")
        self.experiments = {e.name: e for e in experiments}
        self.holdout_share = holdout_share
        self.holdout_salt = holdout_salt
        layers: dict[str, list[Experiment]] = {}
        for e in experiments:
            layers.setdefault(e.layer, []).append(e)
        self.ranges: dict[str, tuple[int, int]] = {}
        for members in layers.values():
            self.ranges.update(_layer_ranges(members))

    def experiment(self, name: str) -> Experiment:
        """The experiment called ``name``; ValueError naming the known ones otherwise."""
        try:
            return self.experiments[name]
        except KeyError:
            raise ValueError(f"unknown experiment {name!r}; known: {sorted(self.experiments)}") from None

    def assign(self, user_id: str, experiment: str, attributes: Attributes | None = None) -> str | None:
        """The variant ``user_id`` gets in ``experiment``, or None (held out, not targeted, or in another
        experiment of the same layer). ``attributes`` are required when the experiment targets a segment.

        Example:
            >>> a = Assigner([Experiment("e", [Variant("a"), Variant("b")])])
            >>> a.assign("tm:user:000001", "e") == a.assign("tm:user:000001", "e")
            True
        """
        return self.assign_many([user_id], experiment, None if attributes is None else [attributes])[0]

    def assign_many(self, user_ids: Sequence[str], experiment: str,
                    attributes: Sequence[Attributes] | None = None) -> list[str | None]:
        """:meth:`assign` for many listeners; ``attributes`` (when given) align with ``user_ids``.

        Example:
            >>> a = Assigner([Experiment("e", [Variant("a"), Variant("b")])], holdout_share=0.5)
            >>> len(a.assign_many([f"u{i}" for i in range(10)], "e"))
            10
        """
        exp = self.experiment(experiment)
        ids = list(user_ids)
        member = self.eligible(ids, exp, attributes)
        variant = np.searchsorted(exp.variant_edges(), buckets(exp.variant_salt, ids), side="right")
        names = [v.name for v in exp.variants]
        return [names[v] if m else None for v, m in zip(variant.tolist(), member.tolist(), strict=True)]

    def eligible(self, user_ids: Sequence[str], exp: Experiment,
                 attributes: Sequence[Attributes] | None = None) -> np.ndarray:
        """Boolean mask: not held out, in ``exp``'s range of its layer, and targeted."""
        held = buckets(self.holdout_salt, user_ids) < round(self.holdout_share * BUCKETS)
        lo, hi = self.ranges[exp.name]
        layer = buckets(f"layer:{exp.layer}", user_ids)
        mask = ~held & (layer >= lo) & (layer < hi)
        if exp.targeting is not None:
            if attributes is None:
                raise ValueError(f"experiment {exp.name!r} targets a segment: pass the listeners' attributes")
            if len(attributes) != len(user_ids):
                raise ValueError(f"attributes ({len(attributes)}) must align with user_ids ({len(user_ids)})")
            mask &= np.fromiter((exp.targeting(a) for a in attributes), bool, len(user_ids))
        return mask


def exposures(user_ids: Sequence[str], experiment: str, variants: Sequence[str | None],
              ts: datetime | Sequence[datetime] | None = None) -> pl.DataFrame:
    """Exposure rows to log when a variant is actually served (listeners with no variant are dropped).

    Analyse exposed listeners only: assigned listeners who never reach the changed surface add
    noise but no signal (the exposure log is what a triggered analysis reads).

    Args:
        user_ids: listeners served.
        experiment: the experiment's name.
        variants: the variant each got (``Assigner.assign_many``), None where not in the experiment.
        ts: when they were served (one instant or one per listener); now when omitted.

    Returns:
        columns ``user_id, experiment, variant, ts`` (``ts`` in ms, UTC).

    Example:
        >>> exposures(["u1", "u2"], "e", ["a", None], datetime(2024, 1, 1, tzinfo=UTC)).height
        1
    """
    if len(variants) != len(user_ids):
        raise ValueError(f"variants ({len(variants)}) must align with user_ids ({len(user_ids)})")
    when = datetime.now(UTC) if ts is None else ts
    stamps = list(when) if isinstance(when, Sequence) else [when] * len(user_ids)
    if len(stamps) != len(user_ids):
        raise ValueError(f"ts ({len(stamps)}) must be one instant or align with user_ids ({len(user_ids)})")
    frame = pl.DataFrame(
        {"user_id": list(user_ids), "experiment": [experiment] * len(user_ids), "variant": list(variants),
         "ts": stamps},
        schema={"user_id": pl.String, "experiment": pl.String, "variant": pl.String,
                "ts": pl.Datetime("us", "UTC")},
    )
    return frame.filter(pl.col("variant").is_not_null()).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
