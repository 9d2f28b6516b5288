"""``tastemaker simulate`` and ``tastemaker experiment plan|report`` as a user runs them: real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

def tm(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tastemaker", "--workspace", str(workspace), *args], check=False,
                          capture_output=True, text=True, timeout=300)


def test_simulate_then_rebuild_the_report(tmp_path: Path) -> None:
    ws, folder = tmp_path / "ws", tmp_path / "exp"
    done = tm(ws, "simulate", "--users", "80", "--tracks", "300", "--history-days", "10", "--weeks", "1",
              "--list-size", "5", "--policies", "popularity,personal", "--out", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary["counts"]) == {"popularity", "personal"}
    metrics = {e["metric"] for e in summary["effects"]}
    assert metrics >= {"minutes", "skip_rate", "save_rate", "total_minutes"}
    assert "retained" not in metrics  # one week: no next week simulated to measure retention on
    users = pl.read_parquet(folder / "user_periods.parquet")
    assert set(users["period"]) == {"week 1", "overall"}
    assert users.filter(pl.col("period") == "overall").height == sum(summary["counts"].values())
    (folder / "report.html").unlink()
    (folder / "effects.png").unlink()
    rebuilt = tm(ws, "experiment", "report", str(folder), "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    paths = json.loads(rebuilt.stdout)
    page = Path(paths["html"]).read_text()
    plots = [p for p in paths if p not in ("html", "markdown")]
    assert page.count("data:image/png;base64,") == len(plots) >= 4
    assert "effects" in paths and Path(paths["effects"]).stat().st_size > 1000
    assert "## Summary" in Path(paths["markdown"]).read_text()


def test_report_finds_an_experiment_by_name_and_says_when_there_is_none(tmp_path: Path) -> None:
    missing = tm(tmp_path / "ws", "experiment", "report", "nothing-here")
    assert missing.returncode != 0 and "not an experiment folder" in missing.stderr


def test_plan_matches_the_rule_of_thumb(tmp_path: Path) -> None:
    done = tm(tmp_path / "ws", "experiment", "plan", "--sd", "30", "--mde", "1", "--daily-users", "2000",
              "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    rule = 15.7 * 30**2 / 1**2  # (z_0.975 + z_0.8)^2 * 2 = 15.7 sd^2 / mde^2 per arm
    assert abs(plan["n_per_arm"] - rule) / rule < 0.01
    assert plan["days"] == -(-2 * plan["n_per_arm"] // 2000)
    assert plan["days_whole_weeks"] % 7 == 0 and plan["days_whole_weeks"] >= plan["days"]
