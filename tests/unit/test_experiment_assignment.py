"""Experiment assignment: determinism, split shares, layers, holdout, targeting, exposure rows."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
import xxhash
from scipy import stats

from tastemaker.experiments.assignment import Assigner, Experiment, Segment, Variant, bucket, exposures

IDS = [f"tm:user:{i:06d}" for i in range(100_000)]
AB = [Variant("control"), Variant("treatment")]


def _within_binomial(count: int, n: int, p: float, z: float = 4.0) -> bool:
    return abs(count - n * p) <= z * np.sqrt(n * p * (1 - p))


def test_buckets_are_the_documented_xxh64_values() -> None:
    # literal values: xxh64 (seed 0) of "salt:user_id" modulo 10,000, computed with xxhash alone
    assert bucket("holdout", "tm:user:000001") == 1303
    assert bucket("layer:radio", "tm:user:000001") == 7878
    assert bucket("radio-mmr", "tm:user:000042") == 1835
    for salt, user in [("exp-salt", "u123"), ("a", "b:c"), ("é", "ü")]:
        assert bucket(salt, user) == xxhash.xxh64_intdigest(f"{salt}:{user}".encode()) % 10_000


def test_assignment_is_the_same_in_another_process() -> None:
    code = ("from tastemaker.experiments.assignment import Assigner, Experiment, Variant\n"
            "a = Assigner([Experiment('e', [Variant('control'), Variant('treatment')])], holdout_share=0.1)\n"
            "print(','.join(str(v) for v in a.assign_many([f'tm:user:{i:06d}' for i in range(200)], 'e')))\n")
    here = Assigner([Experiment("e", AB)], holdout_share=0.1).assign_many(IDS[:200], "e")
    for seed in ("0", "123"):  # a different str-hash seed must not matter
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout.strip()
        assert out.split(",") == [str(v) for v in here]


def test_split_shares_follow_the_weights() -> None:
    exp = Experiment("weighted", [Variant("a", 1), Variant("b", 1), Variant("c", 2)])
    counts = Counter(Assigner([exp]).assign_many(IDS, "weighted"))
    assert None not in counts
    for name, share in (("a", 0.25), ("b", 0.25), ("c", 0.5)):
        assert _within_binomial(counts[name], len(IDS), share), (name, counts)


def test_salt_changes_the_split_and_name_is_the_default_salt() -> None:
    same = Assigner([Experiment("x", AB), Experiment("y", AB, salt="x", layer="other")])
    other = Assigner([Experiment("x", AB, salt="new-salt")])
    ids = IDS[:2_000]
    assert same.assign_many(ids, "x") == same.assign_many(ids, "y")
    pairs = zip(same.assign_many(ids, "x"), other.assign_many(ids, "x"), strict=True)
    agree = np.mean([p == q for p, q in pairs])
    assert 0.45 < agree < 0.55  # a new salt reshuffles: agreement at chance


def test_experiments_of_different_layers_are_independent() -> None:
    xyz = [Variant("x"), Variant("y"), Variant("z")]
    a = Assigner([Experiment("e1", AB, layer="home"), Experiment("e2", xyz, layer="radio")])
    v1, v2 = a.assign_many(IDS, "e1"), a.assign_many(IDS, "e2")
    table = np.zeros((2, 3))
    for p, q in zip(v1, v2, strict=True):
        table[["control", "treatment"].index(p), "xyz".index(q)] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_experiments_of_one_layer_are_mutually_exclusive() -> None:
    exps = [Experiment("e1", AB, layer="L"), Experiment("e2", AB, layer="L", traffic=0.5),
            Experiment("e3", AB, layer="L")]
    a = Assigner(exps)
    inside = np.array([[v is not None for v in a.assign_many(IDS, e.name)] for e in exps])
    assert inside.sum(axis=0).max() == 1  # nobody in two experiments of a layer
    assert inside.all(axis=0).sum() == 0 and inside.any(axis=0).all()  # and the layer's traffic is all used
    for row, share in zip(inside, (0.25, 0.5, 0.25), strict=True):
        assert _within_binomial(int(row.sum()), len(IDS), share)


def test_layer_traffic_over_one_is_refused() -> None:
    with pytest.raises(ValueError, match="add up to"):
        Assigner([Experiment("e1", AB, traffic=0.7), Experiment("e2", AB, traffic=0.5)])


def test_holdout_is_in_no_experiment_and_has_its_share() -> None:
    a = Assigner([Experiment("e1", AB, layer="a"), Experiment("e2", AB, layer="b")], holdout_share=0.05)
    out1, out2 = (np.array([v is None for v in a.assign_many(IDS, e)]) for e in ("e1", "e2"))
    assert (out1 == out2).all()  # the same listeners are held out of every experiment
    expected = np.array([xxhash.xxh64_intdigest(f"holdout:{u}".encode()) % 10_000 < 500 for u in IDS])
    assert (out1 == expected).all()
    assert _within_binomial(int(out1.sum()), len(IDS), 0.05)


def test_targeting_keeps_only_the_segment() -> None:
    seg = Segment(countries=frozenset({"SE", "NO"}), platforms=frozenset({"ios"}), tenure="new")
    a = Assigner([Experiment("onboarding", AB, targeting=seg)])
    attrs = [{"country": "SE", "platform": "ios", "tenure": "new"},
             {"country": "SE", "platform": "ios", "tenure": "established"},
             {"country": "DE", "platform": "ios", "tenure": "new"},
             {"country": "NO", "platform": "android", "tenure": "new"},
             {"platform": "ios", "tenure": "new"}]
    got = a.assign_many(["u1"] * len(attrs), "onboarding", attrs)
    assert got[0] in {"control", "treatment"} and got[1:] == [None] * 4
    with pytest.raises(ValueError, match="attributes"):
        a.assign("u1", "onboarding")


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="two variants"):
        Experiment("e", [Variant("a")])
    with pytest.raises(ValueError, match="distinct"):
        Experiment("e", [Variant("a"), Variant("a")])
    with pytest.raises(ValueError, match="weight"):
        Variant("a", 0)
    with pytest.raises(ValueError, match="unknown experiment"):
        Assigner([Experiment("e", AB)]).assign("u", "nope")


def test_exposures_log_served_variants_only() -> None:
    when = datetime(2024, 3, 1, 12, tzinfo=UTC)
    frame = exposures(["u1", "u2", "u3"], "e", ["control", None, "treatment"], when)
    assert frame.columns == ["user_id", "experiment", "variant", "ts"]
    assert frame["user_id"].to_list() == ["u1", "u3"]
    assert frame["variant"].to_list() == ["control", "treatment"]
    assert frame["ts"].to_list() == [when, when]
    with pytest.raises(ValueError, match="align"):
        exposures(["u1"], "e", ["a", "b"], when)
