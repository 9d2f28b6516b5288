"""The A/B report: effects over time, distributions, diversity, creator exposure, sample ratio, summary.

:class:`ExperimentResult` is what an analysis produced (``simulate/analysis.py`` builds one from a
closed-loop run); :func:`save_result` writes it to an experiment folder as ``result.json`` plus
``user_periods.parquet``, :func:`load_result` reads it back, and :func:`write_report` turns it
into ``report.md`` and ``report.html`` with PNG plots beside them (embedded in the HTML), so a
report can always be rebuilt from the folder (``tastemaker experiment report EXP``).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen before pyplot loads)
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402


RESULT_JSON = "result.json"
USER_PERIODS = "user_periods.parquet"
#: what each metric means, for the summary and the tables
LABELS: dict[str, str] = {
    "minutes": "listening minutes from the list", "total_minutes": "listening minutes, all surfaces",
    "skip_rate": "skip rate", "save_rate": "save rate", "discovered_artists": "new artists discovered",
    "retained": "retention (active the next week)", "distinct_artists": "distinct artists per listener",
    "artist_entropy": "artist entropy per listener (bits)", "sessions": "sessions",
    "total_minutes_cuped": "listening minutes, all surfaces (CUPED)",
}
#: metrics where lower is better
LOWER_IS_BETTER = frozenset({"skip_rate"})


@dataclass(slots=True)
class ExperimentResult:
    """An analysed A/B test.

    Args:
        name: the experiment.
        control: the control arm; ``arms`` lists every arm, control first.
        shares: each arm's planned share of listeners.
        counts: listeners analysed per arm.
        srm: the sample-ratio check (``chi2, p_value, mismatch``).
        periods: period labels in order (``week 1`` ...); effects also have ``overall``.
        effects: one dict per (period, treatment arm, metric): ``period, arm`` and the fields of
            :class:`~tastemaker.experiments.stats.Effect` (``p_adjusted`` on ``overall`` rows).
        trends: lift-decay lines: ``arm, metric, intercept, slope, slope_ci_low, slope_ci_high, fading``.
        arm_periods: one dict per (period, arm) with arm-level measures (metric means, diversity,
            creator exposure).
        user_periods: one row per (listener, period) with ``arm`` and the metric columns.
        meta: how the data was made (configuration, timings, serving levels, ...).
    """

    name: str
    control: str
    arms: list[str]
    shares: list[float]
    counts: dict[str, int]
    srm: dict[str, Any]
    periods: list[str]
    effects: list[dict[str, Any]]
    trends: list[dict[str, Any]] = field(default_factory=list)
    arm_periods: list[dict[str, Any]] = field(default_factory=list)
    user_periods: pl.DataFrame = field(default_factory=pl.DataFrame)
    meta: dict[str, Any] = field(default_factory=dict)

    def effect(self, period: str, arm: str, metric: str) -> dict[str, Any] | None:
        """The effect row of ``metric`` for ``arm`` in ``period``, or None."""
        for row in self.effects:
            if row["period"] == period and row["arm"] == arm and row["metric"] == metric:
                return row
        return None


def save_result(result: ExperimentResult, folder: Path | str) -> Path:
    """Write ``result`` to ``folder`` (``result.json`` + ``user_periods.parquet``); returns the JSON path.

    Example:
        >>> save_result(result, "ws/experiments/for-you")  # doctest: +SKIP
        PosixPath('ws/experiments/for-you/result.json')
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in asdict(result).items() if k != "user_periods"}
    path = out / RESULT_JSON
    path.write_text(json.dumps(data, indent=1, default=_plain))
    result.user_periods.write_parquet(out / USER_PERIODS)
    return path


def load_result(folder: Path | str) -> ExperimentResult:
    """Read an experiment folder written by :func:`save_result`; ``FileNotFoundError`` says what is missing.

    Example:
        >>> load_result("ws/experiments/for-you").control  # doctest: +SKIP
        'popularity'
    """
    path = Path(folder) / RESULT_JSON
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not an experiment folder "
                                "(run `tastemaker simulate` first)")
    data = json.loads(path.read_text())
    users = Path(folder) / USER_PERIODS
    data["user_periods"] = pl.read_parquet(users) if users.exists() else pl.DataFrame()
    return ExperimentResult(**data)


def _plain(value: Any) -> Any:
    """JSON form of numpy scalars and dates."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def summary(result: ExperimentResult, alpha: float = 0.05) -> list[str]:
    """Plain-language sentences: sample ratio, then each treatment arm's overall effects.

    Example:
        >>> summary(result)[0]  # doctest: +SKIP
        'Listeners were split as planned (1,003 and 997; sample-ratio p = 0.89).'
    """
    counts = " and ".join(f"{result.counts.get(a, 0):,}" for a in result.arms)
    srm = result.srm
    lines = [f"Listeners were {'NOT ' if srm.get('mismatch') else ''}split as planned ({counts}; "
             f"sample-ratio p = {srm.get('p_value', float('nan')):.2g})."
             + (" Do not trust the effects below until the cause is found." if srm.get("mismatch") else "")]
    for arm in result.arms[1:]:
        rows = [r for r in result.effects if r["period"] == "overall" and r["arm"] == arm]
        for row in rows:
            lines.append(_sentence(row, arm, result.control, alpha))
        decay = [t for t in result.trends if t["arm"] == arm and t["metric"] == "minutes"]
        if decay:
            lines.append(_trend_sentence(decay[0]))
    return lines


def _sentence(row: dict[str, Any], arm: str, control: str, alpha: float) -> str:
    label = LABELS.get(row["metric"], row["metric"])
    p = row.get("p_adjusted", row["p_value"])
    lift = row["rel_lift"] * 100
    interval = f"{row['rel_ci_low'] * 100:+.1f}% to {row['rel_ci_high'] * 100:+.1f}%"
    if p >= alpha:
        return (f"{arm} vs {control}, {label}: no clear difference ({row['mean_b']:.3g} vs "
                f"{row['mean_a']:.3g}, {lift:+.1f}%, interval {interval}, p = {p:.2g}).")
    better = (lift < 0) if row["metric"] in LOWER_IS_BETTER else (lift > 0)
    return (f"{arm} vs {control}, {label}: {'better' if better else 'worse'}, {row['mean_b']:.3g} vs "
            f"{row['mean_a']:.3g} ({lift:+.1f}%, interval {interval}, p = {p:.2g}).")


def _trend_sentence(trend: dict[str, Any]) -> str:
    per_week = trend["slope"] * 100
    interval = f"interval {trend['slope_ci_low'] * 100:+.1f} to {trend['slope_ci_high'] * 100:+.1f}"
    if trend["fading"]:
        return f"The minutes lift fades by {abs(per_week):.1f} points a week ({interval}): a novelty effect."
    return f"The minutes lift changes by {per_week:+.1f} points a week ({interval}): no sign of it fading."


# ---------------------------------------------------------------------------------------------- plots
#: measures of ``arm_periods`` drawn in the diversity and creator plots
DIVERSITY = ("arm_distinct_artists", "arm_artist_entropy", "exposure_gini", "coverage")
CREATORS = ("tail_play_share", "tail_impression_share", "new_release_play_share")


def _weeks(result: ExperimentResult) -> list[str]:
    return [p for p in result.periods if p != "overall"]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _grid(n: int) -> tuple[Any, np.ndarray]:
    cols = min(3, max(n, 1))
    rows = -(-max(n, 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_effects(result: ExperimentResult, path: Path) -> Path | None:
    """Relative lift per period with its interval, one panel per metric (decay shows as a falling line)."""
    weeks = _weeks(result)
    metrics = list(dict.fromkeys(r["metric"] for r in result.effects if r["period"] in weeks))
    if not metrics:
        return None
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics, strict=False):
        for k, arm in enumerate(result.arms[1:]):
            rows = [result.effect(w, arm, metric) for w in weeks]
            x = [i + 1 + 0.08 * k for i, r in enumerate(rows) if r is not None]
            y = np.array([r["rel_lift"] * 100 for r in rows if r is not None])
            lo = np.array([r["rel_ci_low"] * 100 for r in rows if r is not None])
            hi = np.array([r["rel_ci_high"] * 100 for r in rows if r is not None])
            ax.errorbar(x, y, yerr=[y - lo, hi - y], marker="o", capsize=3, label=arm)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(LABELS.get(metric, metric), fontsize=9)
        ax.set_xticks(range(1, len(weeks) + 1))
        ax.set_xlabel("week")
        ax.set_ylabel(f"lift vs {result.control} (%)")
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def plot_distributions(result: ExperimentResult, path: Path) -> Path | None:
    """Per-listener distributions per arm over the whole experiment: minutes and skip rate."""
    users = result.user_periods
    if users.is_empty() or "period" not in users.columns:
        return None
    overall = users.filter(pl.col("period") == "overall")
    columns = [c for c in ("minutes", "skip_rate", "total_minutes") if c in overall.columns]
    fig, axes = _grid(len(columns))
    for ax, column in zip(axes, columns, strict=False):
        for arm in result.arms:
            values = overall.filter(pl.col("arm") == arm)[column].drop_nulls().to_numpy()
            if values.size:
                ax.hist(values, bins=40, histtype="step", lw=1.5, label=f"{arm} (mean {values.mean():.3g})")
        ax.set_title(f"{LABELS.get(column, column)} per listener", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _over_time(result: ExperimentResult, path: Path, measures: tuple[str, ...]) -> Path | None:
    weeks = _weeks(result)
    rows = [r for r in result.arm_periods if r["period"] in weeks]
    present = [m for m in measures if rows and m in rows[0]]
    if not present:
        return None
    fig, axes = _grid(len(present))
    for ax, measure in zip(axes, present, strict=False):
        for arm in result.arms:
            mine = {r["period"]: r.get(measure) for r in rows if r["arm"] == arm}
            ax.plot(range(1, len(weeks) + 1), [mine.get(w, np.nan) for w in weeks], marker="o", label=arm)
        ax.set_title(measure.replace("_", " "), fontsize=9)
        ax.set_xticks(range(1, len(weeks) + 1))
        ax.set_xlabel("week")
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def plot_diversity(result: ExperimentResult, path: Path) -> Path | None:
    """Filter-bubble measures per arm and week: artists consumed, entropy, exposure Gini, coverage."""
    return _over_time(result, path, DIVERSITY)


def plot_creators(result: ExperimentResult, path: Path) -> Path | None:
    """Creator exposure per arm and week: long-tail artists' share of plays and impressions, new releases."""
    return _over_time(result, path, CREATORS)


def plot_srm(result: ExperimentResult, path: Path) -> Path | None:
    """Listeners per arm against the planned split."""
    counts = np.array([result.counts.get(a, 0) for a in result.arms], float)
    expected = counts.sum() * np.asarray(result.shares)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.arange(len(result.arms))
    ax.bar(x - 0.2, counts, 0.4, label="observed")
    ax.bar(x + 0.2, expected, 0.4, label="planned")
    ax.set_xticks(x, result.arms)
    ax.set_title(f"sample ratio: chi2 {result.srm.get('chi2', float('nan')):.2f}, "
                 f"p {result.srm.get('p_value', float('nan')):.2g}", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


#: plot name -> (drawing function, title)
PLOTS: dict[str, tuple[Any, str]] = {
    "effects": (plot_effects, "Effect over time (relative lift per week, 95% interval)"),
    "distributions": (plot_distributions, "Metric distributions per arm"),
    "diversity": (plot_diversity, "Diversity over time"),
    "creators": (plot_creators, "Creator exposure over time"),
    "srm": (plot_srm, "Sample-ratio check"),
}


def write_report(result: ExperimentResult, out_dir: Path | str) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` (plots embedded) and the plots' PNG files into ``out_dir``.

    Returns:
        ``{"markdown": ..., "html": ..., <plot name>: ...}`` paths.

    Example:
        >>> folder = "ws/experiments/for-you"
        >>> sorted(write_report(load_result(folder), folder))  # doctest: +SKIP
        ['creators', 'distributions', 'diversity', 'effects', 'html', 'markdown', 'srm']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pngs = {name: draw(result, out / f"{name}.png") for name, (draw, _) in PLOTS.items()}
    pngs = {name: path for name, path in pngs.items() if path is not None}
    sections = _sections(result)
    md, page = out / "report.md", out / "report.html"
    md.write_text(_markdown(result, sections, pngs))
    page.write_text(_html(result, sections, pngs))
    return {"markdown": md, "html": page, **pngs}


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:+.{digits}f}"


def _sections(result: ExperimentResult) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables: (title, header, rows)."""
    effect_rows = [[r["period"], r["arm"], LABELS.get(r["metric"], r["metric"]), _num(r["mean_a"]),
                    _num(r["mean_b"]), f"{_pct(r['rel_lift'])}%",
                    f"[{_pct(r['rel_ci_low'])}%, {_pct(r['rel_ci_high'])}%]", f"{r['p_value']:.2g}",
                    f"{r['p_adjusted']:.2g}" if "p_adjusted" in r else ""] for r in result.effects]
    keys = [k for k in (result.arm_periods[0] if result.arm_periods else {}) if k not in ("period", "arm")]
    arm_rows = [[r["period"], r["arm"], *(_num(r.get(k)) for k in keys)] for r in result.arm_periods]
    trend_rows = [[t["arm"], LABELS.get(t["metric"], t["metric"]), _pct(t["slope"], 2),
                   f"[{_pct(t['slope_ci_low'], 2)}, {_pct(t['slope_ci_high'], 2)}]",
                   "yes" if t["fading"] else "no"] for t in result.trends]
    counts = [[a, f"{result.counts.get(a, 0):,}", f"{s:.3f}"]
              for a, s in zip(result.arms, result.shares, strict=True)]
    effects_header = ["period", "arm", "metric", "control", "treatment", "lift", "interval", "p", "p (Holm)"]
    return [
        ("Sample ratio", ["arm", "listeners", "planned share"], counts),
        ("Effects (treatment − control)", effects_header, effect_rows),
        ("Lift over time (relative lift points per week)", ["arm", "metric", "slope", "interval", "fading"],
         trend_rows),
        ("Per arm and period", ["period", "arm", *keys], arm_rows),
    ]


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _meta(result: ExperimentResult) -> str:
    return json.dumps(result.meta, indent=1, default=_plain)


def _markdown(result: ExperimentResult, sections: list[tuple[str, list[str], list[list[str]]]],
              pngs: dict[str, Path]) -> str:
    lines = [f"# Experiment {result.name}", "",
             f"Control: **{result.control}**; arms: {', '.join(result.arms)}.", "",
             "## Summary", "", *(f"- {s}" for s in summary(result)), ""]
    for title, header, rows in sections:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    lines += ["## Plots", ""]
    for name, path in pngs.items():
        lines += [f"### {PLOTS[name][1]}", "", f"![{name}]({path.name})", ""]
    if result.meta:
        lines += ["## How the data was made", "", "```json", _meta(result), "```", ""]
    return "\n".join(lines)


_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}")


def _html(result: ExperimentResult, sections: list[tuple[str, list[str], list[list[str]]]],
          pngs: dict[str, Path]) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Experiment {esc(result.name)}</title>",
             f"<style>{_STYLE}</style></head><body>", f"<h1>Experiment {esc(result.name)}</h1>",
             f"<p>Control: <b>{esc(result.control)}</b>; arms: {esc(', '.join(result.arms))}.</p>",
             "<h2>Summary</h2><ul>", *(f"<li>{esc(s)}</li>" for s in summary(result)), "</ul>"]
    for title, header, rows in sections:
        parts.append(f"<h2>{esc(title)}</h2><table><tr>{''.join(f'<th>{esc(h)}</th>' for h in header)}</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append("<h2>Plots</h2>")
    for name, path in pngs.items():
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<h3>{esc(PLOTS[name][1])}</h3>"
                     f"<img alt='{esc(name)}' src='data:image/png;base64,{data}'>")
    if result.meta:
        parts.append(f"<h2>How the data was made</h2><pre>{esc(_meta(result))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
