"""Self-contained HTML pages for an evaluation (``report.html``) and a comparison (``comparison.html``).

The pages open from disk in any browser, with no server and no network: the CSS is inline,
every image (episode thumbnails, learning curves, the success plot) is embedded as a base64
``data:`` URI read from the output directory, and there is no JavaScript. Videos are not
embedded: thumbnails link to each episode's mp4 and each task's grid video plays in a
``<video>`` element, all through relative paths, so the output directory can be moved or
zipped as a whole. An image file that is missing is left out with a visible note.

Everything that comes from the user (task names, instructions, policy paths, labels) is
escaped by Jinja2's autoescaping.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from embodied_rl.evaluation.compare import (
    COMPARISON_CSV,
    COMPARISON_JSON,
    COMPARISON_MD,
    Comparison,
    Difference,
    _legend,
)
from embodied_rl.evaluation.results import (
    EPISODES_CSV,
    RESULTS_CSV,
    RESULTS_JSON,
    RESULTS_MD,
    SUITE_ROW,
    EvalReport,
    TaskResult,
    format_success,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"
REPORT_HTML = "report.html"
COMPARISON_HTML = "comparison.html"

IMAGE_MIME = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}

CSS = """
:root {
  --fg: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #ffffff; --panel: #f7f8fa;
  --accent: #2563eb; --ok: #15803d; --ok-bg: #dcfce7; --bad: #b91c1c; --bad-bg: #fee2e2;
  --warn: #92400e; --warn-bg: #fef3c7;
}
* { box-sizing: border-box; }
body {
  margin: 0; padding: 24px 16px 48px; color: var(--fg); background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
main { max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.6em; margin: 0 0 12px; word-break: break-word; }
h2 { font-size: 1.25em; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1em; margin: 0 0 6px; word-break: break-word; }
code { font: 0.92em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.small { font-size: 0.86em; }
.banner {
  margin: 0 0 16px; padding: 12px 16px; border-radius: 6px; font-weight: 600;
  background: var(--warn-bg); color: var(--warn); border: 1px solid #f59e0b;
}
.notes { margin: 12px 0; padding: 0; list-style: none; }
.notes li {
  margin: 6px 0; padding: 8px 12px; border-left: 4px solid #f59e0b; background: var(--warn-bg);
  border-radius: 0 4px 4px 0;
}
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; word-break: break-word; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
td.name { min-width: 9em; overflow-wrap: anywhere; }
#runs th, #runs td { text-align: left; }
table caption { caption-side: bottom; text-align: left; padding-top: 6px; }
tr.suite td { font-weight: 700; background: var(--panel); border-top: 2px solid #cbd2d9; }
tr.incomplete td { background: #fffbeb; }
.bar {
  position: relative; display: inline-block; width: 120px; height: 8px; margin: 0 0 0 8px;
  background: var(--line); border-radius: 4px; vertical-align: middle;
}
.bar .rate { position: absolute; left: 0; top: 0; bottom: 0; background: #93c5fd; border-radius: 4px; }
.bar .ci {
  position: absolute; top: -3px; bottom: -3px; border-left: 2px solid #1e3a8a;
  border-right: 2px solid #1e3a8a; background: rgba(30, 58, 138, 0.18);
}
.figure { margin: 8px 0 16px; }
.figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.curves { display: flex; flex-wrap: wrap; gap: 12px; }
.curves .figure { flex: 1 1 360px; margin: 0; }
.missing {
  display: inline-block; padding: 6px 10px; color: var(--bad); background: var(--bad-bg);
  border-radius: 4px; font-size: 0.86em; word-break: break-all;
}
section.task {
  margin: 20px 0; padding: 16px; border: 1px solid var(--line); border-radius: 8px; background: var(--bg);
}
.task .stats { margin: 0 0 8px; }
.task .instruction { margin: 4px 0 10px; font-style: italic; }
.grid-video { margin: 8px 0 12px; }
.grid-video video { display: block; max-width: 100%; max-height: 480px; background: #000; border-radius: 4px; }
.thumbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.episode { border: 3px solid #cbd2d9; border-radius: 6px; overflow: hidden; background: var(--panel); }
.episode.success { border-color: #22c55e; }
.episode.failure { border-color: #ef4444; }
.episode a { display: block; }
.episode img { display: block; width: 100%; height: auto; }
.episode .placeholder {
  display: flex; align-items: center; justify-content: center; aspect-ratio: 1 / 1;
  padding: 6px; color: var(--muted); font-size: 0.8em; text-align: center; word-break: break-all;
}
.episode .caption { padding: 4px 8px 6px; font-size: 0.84em; line-height: 1.35; }
.episode .caption .instruction { margin: 2px 0 0; color: var(--muted); font-style: italic; }
.badge {
  display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 0.78em; font-weight: 700;
  letter-spacing: 0.03em; background: var(--line); color: var(--muted);
}
.badge.success { background: var(--ok-bg); color: var(--ok); }
.badge.failure { background: var(--bad-bg); color: var(--bad); }
.files { padding-left: 20px; }
td .delta { display: block; font-size: 0.84em; color: var(--muted); }
td.significant { font-weight: 700; }
td.significant .delta { color: var(--fg); }
td.significant.better { background: var(--ok-bg); }
td.significant.worse { background: var(--bad-bg); }
td.baseline { background: #f0f5ff; }
.legend { color: var(--muted); font-size: 0.9em; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.82em; }
@media (max-width: 640px) {
  body { padding: 12px 8px 32px; font-size: 14px; }
  .bar { display: none; }
  .thumbs { grid-template-columns: repeat(auto-fill, minmax(110px, 1fr)); }
}
"""


@dataclass
class Image:
    """An image for a page: its data URI, or why it is missing."""

    path: str
    alt: str
    src: str | None = None
    missing: str | None = None


class _Images:
    """Reads images from the output directory as data URIs (each file once)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    def get(self, path: str, alt: str) -> Image:
        if path not in self._cache:
            self._cache[path] = self._read(path)
        src, missing = self._cache[path]
        return Image(path=path, alt=alt, src=src, missing=missing)

    def _read(self, path: str) -> tuple[str | None, str | None]:
        file = self.out_dir / path
        mime = IMAGE_MIME.get(file.suffix.lower())
        if mime is None:
            return None, f"not an image file: {path}"
        try:
            data = file.read_bytes()
        except OSError:
            return None, f"image not found: {path}"
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", None


def href(path: str) -> str:
    """A relative path as a URL (``/`` separators, special characters percent-encoded)."""
    return quote(PurePosixPath(Path(path).as_posix()).as_posix(), safe="/")


def render_report(
    report: EvalReport, out_dir: Path, success_plot: str | None = None, name: str = REPORT_HTML
) -> Path:
    """Write the evaluation's self-contained HTML report to ``out_dir / name``.

    Args:
        report: The evaluation. Its relative paths (thumbnails, videos, curves) are
            relative to ``out_dir``.
        out_dir: The evaluation's output directory.
        success_plot: Path of a success-rate bar chart (PNG or SVG) relative to ``out_dir``.
        name: File name of the page.

    Returns:
        The path of the written page.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = _Images(out_dir)
    rows = report.tasks + ([report.summary] if len(report.tasks) > 1 else [])
    context = {
        "css": Markup(CSS),
        "report": report,
        "title": f"Evaluation: {report.policy}",
        "meta": _report_meta(report),
        "rows": [_row(t, i if t.name != SUITE_ROW else None) for i, t in enumerate(rows)],
        "success_plot": images.get(success_plot, "success rate per task") if success_plot else None,
        "curves": [images.get(c, f"learning curve {PurePosixPath(c).stem}") for c in report.curves],
        "tasks": [_task_view(t, i, images) for i, t in enumerate(report.tasks)],
        "files": _existing(out_dir, [RESULTS_JSON, RESULTS_CSV, EPISODES_CSV, RESULTS_MD]),
    }
    path = out_dir / name
    path.write_text(_environment().get_template("report.html.j2").render(**context), encoding="utf-8")
    return path


def render_comparison(
    comparison: Comparison, out_dir: Path, success_plot: str | None = None, name: str = COMPARISON_HTML
) -> Path:
    """Write the comparison's self-contained HTML page to ``out_dir / name``.

    Args:
        comparison: Runs compared with the first (the baseline).
        out_dir: The comparison's output directory.
        success_plot: Path of a grouped success-rate bar chart relative to ``out_dir``.
        name: File name of the page.

    Returns:
        The path of the written page.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = _Images(out_dir)
    runs = []
    for i, (label, r) in enumerate(zip(comparison.labels, comparison.reports, strict=True)):
        runs.append(
            {
                "label": label,
                "baseline": i == 0,
                "policy": r.policy,
                "suite": r.suite or "-",
                "tasks": len(r.tasks),
                "episodes": r.episodes_per_task,
                "seeds": _seeds(r),
                "actions": "deterministic" if r.deterministic else "stochastic",
                "created": r.created or "-",
                "partial": r.partial,
            }
        )
    rows = []
    for row in comparison.tasks:
        cells = [
            _comparison_cells(result, diff, i == 0)
            for i, (result, diff) in enumerate(zip(row.results, row.differences, strict=True))
        ]
        rows.append({"name": row.task, "suite": row.task == SUITE_ROW, "cells": cells})
    context = {
        "css": Markup(CSS),
        "title": "Comparison: " + " vs ".join(comparison.labels),
        "labels": comparison.labels,
        "baseline": comparison.labels[0],
        "alpha": comparison.alpha,
        "legend": _markdown_code(_legend(comparison.alpha)),
        "warnings": comparison.warnings,
        "runs": runs,
        "rows": rows,
        "success_plot": images.get(success_plot, "success rate per task and run") if success_plot else None,
        "files": _existing(out_dir, [COMPARISON_JSON, COMPARISON_CSV, COMPARISON_MD]),
    }
    path = out_dir / name
    path.write_text(_environment().get_template("comparison.html.j2").render(**context), encoding="utf-8")
    return path


# ---- view models -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _seeds(report: EvalReport) -> str:
    if report.episodes_per_task > 1:
        return f"{report.seed}..{report.seed + report.episodes_per_task - 1}"
    return str(report.seed)


def _report_meta(report: EvalReport) -> list[tuple[str, str]]:
    meta = [
        ("policy", report.policy),
        ("suite", report.suite or "-"),
        ("tasks", str(len(report.tasks))),
    ]
    if report.protocol:
        meta.append(("protocol", report.protocol))
    meta += [
        ("actions", "deterministic (the policy's mode)" if report.deterministic else "stochastic (sampled)"),
        ("seeds", _seeds(report)),
        ("episodes per task", str(report.episodes_per_task)),
        ("parallel envs", str(report.num_envs)),
        ("created", report.created or "-"),
        ("wall time", _duration(report.wall_time_s)),
    ]
    if report.versions:
        meta.append(("versions", ", ".join(f"{k} {v}" for k, v in report.versions.items())))
    return meta


def _bar(task: TaskResult) -> dict[str, str] | None:
    ci = task.success_ci
    if ci is None or task.success_rate is None:
        return None
    return {
        "rate": f"{100 * task.success_rate:.1f}",
        "left": f"{100 * ci[0]:.1f}",
        "width": f"{100 * (ci[1] - ci[0]):.1f}",
    }


def _episodes_text(task: TaskResult) -> str:
    return str(task.n) if task.complete else f"{task.n} of {task.planned}"


def _row(task: TaskResult, index: int | None) -> dict[str, Any]:
    return {
        "name": task.name,
        "anchor": f"task-{index}" if index is not None else None,
        "suite": task.name == SUITE_ROW and index is None,
        "complete": task.complete,
        "episodes": _episodes_text(task),
        "success": format_success(task),
        "bar": _bar(task),
        "return": f"{_num(task.mean_return)} +- {_num(task.std_return)}",
        "length": _num(task.mean_length, 1),
    }


def _task_view(task: TaskResult, index: int, images: _Images) -> dict[str, Any]:
    instructions = list(dict.fromkeys(e.instruction for e in task.episodes if e.instruction))
    shared = instructions[0] if len(instructions) == 1 else None
    episodes = []
    for e in task.episodes:
        outcome = "unknown" if e.success is None else ("success" if e.success else "failure")
        episodes.append(
            {
                "seed": e.seed,
                "outcome": outcome,
                "badge": {"success": "SUCCESS", "failure": "FAILURE", "unknown": "NO SUCCESS INFO"}[outcome],
                "return": _num(e.episode_return),
                "length": e.length,
                "video": href(e.video) if e.video else None,
                "thumb": images.get(e.thumbnail, f"seed {e.seed}, last frame") if e.thumbnail else None,
                "instruction": e.instruction if shared is None else None,
            }
        )
    return {
        "name": task.name,
        "anchor": f"task-{index}",
        "env": task.env,
        "kwargs": json.dumps(task.env_kwargs, sort_keys=True, default=str) if task.env_kwargs else None,
        "row": _row(task, index),
        "instruction": shared,
        "grid_video": href(task.grid_video) if task.grid_video else None,
        "grid_video_path": task.grid_video,
        "episodes": episodes,
    }


def _comparison_cells(result: TaskResult | None, diff: Difference | None, baseline: bool) -> dict[str, Any]:
    if result is None:
        return {"missing": True}
    success: dict[str, Any] = {
        "missing": False,
        "text": format_success(result),
        "n": _episodes_text(result),
        "bar": _bar(result),
        "delta": None,
        "significant": False,
        "direction": "",
    }
    ret: dict[str, Any] = {
        "missing": False,
        "text": f"{_num(result.mean_return)} +- {_num(result.std_return)}",
        "n": _episodes_text(result),
        "bar": None,
        "delta": None,
        "significant": False,
        "direction": "",
    }
    if diff is not None and diff.success_delta is not None and diff.success_p is not None:
        success["significant"] = diff.success_significant
        success["direction"] = "better" if diff.success_delta > 0 else "worse"
        test = "McNemar" if diff.success_test == "mcnemar" else "Fisher"
        success["delta"] = f"{100 * diff.success_delta:+.1f} pp, p={diff.success_p:.3g} ({test})"
    if diff is not None:
        ret["significant"] = diff.return_significant
        ret["direction"] = "better" if diff.return_delta > 0 else "worse"
        ret["delta"] = f"{diff.return_delta:+.2f}, p={_pvalue(diff.return_p)} (Welch)"
    return {"missing": False, "baseline": baseline, "success": success, "return": ret}


def _pvalue(p: float) -> str:
    return "-" if p is None or not math.isfinite(p) else f"{p:.3g}"


def _markdown_code(text: str) -> Markup:
    """Escape ``text`` and turn its `code` spans into ``<code>`` elements."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _existing(out_dir: Path, names: list[str]) -> list[dict[str, str]]:
    return [{"name": n, "href": href(n)} for n in names if (out_dir / n).is_file()]
