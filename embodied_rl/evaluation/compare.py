"""Side by side comparison of evaluations (`embodied-rl eval --compare A B ...`).

Every run is compared with the first (the baseline), task by task and for the pool of
tasks all runs share. Success rates are tested with the exact McNemar test when both
runs played the same seeds (paired episodes: same initial states), else with Fisher's
exact test; mean returns with Welch's t-test. A difference is marked significant when
``p < alpha``. The per-task tests are not corrected for multiple comparisons: over many
tasks, expect about ``alpha`` of them marked by chance; the pooled row is one test.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embodied_rl.evaluation.results import SUITE_ROW, EvalReport, TaskResult, format_success, pooled
from embodied_rl.evaluation.stats import fisher_exact_p, mcnemar_exact_p, welch_t_p

COMPARISON_JSON = "comparison.json"
COMPARISON_CSV = "comparison.csv"
COMPARISON_MD = "comparison.md"


@dataclass
class Difference:
    """One run against the baseline on one task.

    Attributes:
        success_delta: ``rate - baseline rate`` (fraction), None without success info.
        success_p: p-value of the success-rate test.
        success_test: ``"mcnemar"`` (paired by seed) or ``"fisher"``.
        return_delta: ``mean return - baseline mean return``.
        return_p: Welch t-test p-value of the returns.
        alpha: Significance level the flags use.
    """

    success_delta: float | None
    success_p: float | None
    success_test: str | None
    return_delta: float
    return_p: float
    alpha: float

    @property
    def success_significant(self) -> bool:
        return self.success_p is not None and self.success_p < self.alpha

    @property
    def return_significant(self) -> bool:
        return self.return_p < self.alpha


@dataclass
class TaskComparison:
    """One task across runs: each run's result (None if it lacks the task) and its difference."""

    task: str
    results: list[TaskResult | None]
    differences: list[Difference | None]


@dataclass
class Comparison:
    """Runs compared with the first one (the baseline)."""

    labels: list[str]
    reports: list[EvalReport]
    tasks: list[TaskComparison]
    alpha: float = 0.05
    warnings: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        head = "| task | " + " | ".join(self.labels) + " |"
        rule = "|---|" + "---:|" * len(self.labels)
        lines = ["# Comparison", "", f"Baseline: **{self.labels[0]}**. {_legend(self.alpha)}", ""]
        for title, key in (("Success rate [95% CI]", "success"), ("Return (mean +- std)", "return")):
            lines += [f"## {title}", "", head, rule]
            for row in self.tasks:
                cells = [_cell(r, d, key) for r, d in zip(row.results, row.differences, strict=True)]
                name = f"**{row.task}**" if row.task == SUITE_ROW else row.task
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += [f"> {w}" for w in self.warnings]
        return "\n".join(lines).rstrip() + "\n"

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows (one per task and run) for CSV / JSON."""
        out = []
        for row in self.tasks:
            for label, result, diff in zip(self.labels, row.results, row.differences, strict=True):
                if result is None:
                    continue
                stats = result.row()
                out.append(
                    {
                        "task": row.task,
                        "run": label,
                        "episodes": stats["episodes"],
                        "success_rate": stats["success_rate"],
                        "ci_low": stats["ci_low"],
                        "ci_high": stats["ci_high"],
                        "return_mean": stats["return_mean"],
                        "return_std": stats["return_std"],
                        "success_delta": diff.success_delta if diff else None,
                        "success_p": diff.success_p if diff else None,
                        "success_test": diff.success_test if diff else None,
                        "success_significant": diff.success_significant if diff else None,
                        "return_delta": diff.return_delta if diff else None,
                        "return_p": diff.return_p if diff else None,
                        "return_significant": diff.return_significant if diff else None,
                    }
                )
        return out

    def save(self, out_dir: Path) -> dict[str, Path]:
        """Write comparison.md, comparison.csv and comparison.json to ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        paths = {
            "markdown": out_dir / COMPARISON_MD,
            "csv": out_dir / COMPARISON_CSV,
            "json": out_dir / COMPARISON_JSON,
        }
        paths["markdown"].write_text(self.to_markdown())
        with paths["csv"].open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["task"])
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        payload = {"labels": self.labels, "alpha": self.alpha, "warnings": self.warnings, "rows": rows}
        paths["json"].write_text(json.dumps(payload, indent=2) + "\n")
        return paths


Outcomes = dict[Hashable, bool]


def _outcomes(result: TaskResult) -> Outcomes:
    return {e.seed: bool(e.success) for e in result.episodes}


def difference(
    base: TaskResult,
    other: TaskResult,
    alpha: float = 0.05,
    paired: tuple[Outcomes, Outcomes] | None = None,
) -> Difference:
    """Test ``other`` against ``base`` (paired by seed when both played the same seeds).

    Args:
        base: The baseline's result.
        other: The result to compare.
        alpha: Significance level for the flags.
        paired: Success per episode key for each side (default: keyed by seed). Episodes
            are paired when the two key sets are equal.
    """
    success_delta = success_p = success_test = None
    if base.success_rate is not None and other.success_rate is not None:
        success_delta = other.success_rate - base.success_rate
        a, b = paired or (_outcomes(base), _outcomes(other))
        if set(a) == set(b):
            keys = list(a)
            success_p = mcnemar_exact_p([a[k] for k in keys], [b[k] for k in keys])
            success_test = "mcnemar"
        else:
            success_p = fisher_exact_p(base.successes, base.n, other.successes, other.n)
            success_test = "fisher"
    return Difference(
        success_delta=success_delta,
        success_p=success_p,
        success_test=success_test,
        return_delta=other.mean_return - base.mean_return,
        return_p=welch_t_p(base.returns, other.returns),
        alpha=alpha,
    )


def compare_reports(
    reports: list[EvalReport], labels: list[str] | None = None, alpha: float = 0.05
) -> Comparison:
    """Compare evaluations with the first: per task, then pooled over the tasks all share.

    Args:
        reports: Two or more evaluations.
        labels: A name per run (default ``run 1``, ``run 2``, ...).
        alpha: Significance level for the marks.
    """
    if len(reports) < 2:
        raise ValueError(f"a comparison needs at least two evaluations, got {len(reports)}")
    labels = list(labels or [f"run {i + 1}" for i in range(len(reports))])
    if len(labels) != len(reports):
        raise ValueError(f"{len(labels)} labels for {len(reports)} evaluations")
    names = list(dict.fromkeys(t.name for r in reports for t in r.tasks))
    shared = [n for n in names if all(r.task(n) is not None for r in reports)]
    rows = [_compare_row(name, [r.task(name) for r in reports], alpha) for name in names]
    if len(names) > 1:
        # pooled over the shared tasks; episodes pair by (task, seed)
        pools = [pooled([r.task(n) for n in shared]) for r in reports]  # type: ignore[misc]
        keys = [{(n, s): v for n in shared for s, v in _outcomes(r.task(n)).items()} for r in reports]  # type: ignore[arg-type]
        rows.append(_compare_row(SUITE_ROW, pools, alpha, keys))
    return Comparison(labels, reports, rows, alpha, _warnings(reports, labels, names, shared))


def _compare_row(
    name: str, results: list[TaskResult | None], alpha: float, keys: list[Outcomes] | None = None
) -> TaskComparison:
    base = results[0]
    diffs: list[Difference | None] = [None]
    for i, other in enumerate(results[1:], start=1):
        if base is None or other is None:
            diffs.append(None)
            continue
        paired = (keys[0], keys[i]) if keys else None
        diffs.append(difference(base, other, alpha, paired))
    return TaskComparison(name, results, diffs)


def _warnings(reports: list[EvalReport], labels: list[str], names: list[str], shared: list[str]) -> list[str]:
    out = []
    missing = [n for n in names if n not in shared]
    if missing:
        out.append(f"tasks not in every run (left out of the pooled row): {', '.join(missing)}")
    if len({r.deterministic for r in reports}) > 1:
        modes = ", ".join(
            f"{lbl}: {'deterministic' if r.deterministic else 'stochastic'}"
            for lbl, r in zip(labels, reports, strict=True)
        )
        out.append(f"runs used different action modes ({modes})")
    if any(r.partial for r in reports):
        out.append(
            "partial evaluations: "
            + ", ".join(lbl for lbl, r in zip(labels, reports, strict=True) if r.partial)
        )
    return out


def _legend(alpha: float) -> str:
    return (
        f"`*` marks a difference from the baseline with p < {alpha:g} (success: exact McNemar test on "
        "episodes paired by seed, or Fisher's exact test when the seeds differ; return: Welch's t-test). "
        "Per-task tests are not corrected for multiple comparisons."
    )


def _cell(result: TaskResult | None, diff: Difference | None, key: str) -> str:
    if result is None:
        return "n/a"
    if key == "success":
        text = format_success(result)
        if diff is not None and diff.success_delta is not None:
            mark = "*" if diff.success_significant else ""
            text += f" ({100 * diff.success_delta:+.1f}{mark}, p={diff.success_p:.3g})"
        return text
    text = f"{result.mean_return:.2f} +- {result.std_return:.2f}"
    if diff is not None:
        mark = "*" if diff.return_significant else ""
        text += f" ({diff.return_delta:+.2f}{mark}, p={diff.return_p:.3g})"
    return text
