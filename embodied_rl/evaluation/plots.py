"""Plots of training runs and evaluation results (`embodied-rl plot`).

:func:`read_scalars` reads every scalar series of a run directory (TensorBoard event
files under ``<run_dir>/tb``, else ``metrics.jsonl``). :func:`plot_learning_curves`
draws them against env steps, one subplot per tag and one line per run, and
:func:`plot_success_rates` draws per-task success rates with 95% confidence intervals.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global
figure state, no display needed) and written as ``.png`` or ``.svg`` by file suffix.
matplotlib is imported on first use, so reading scalars does not need it.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DEFAULT_CURVE_TAGS = ("rollout/episode_return_mean", "eval/success_rate", "eval/episode_return_mean")
"""The tags :func:`plot_learning_curves` draws when none are given (those a run has)."""

HORIZONTAL_BARS_ABOVE = 12
""":func:`plot_success_rates` draws horizontal bars when there are more tasks than this."""

PNG_DPI = 120
_FORMATS = (".png", ".svg")
_EVENT_GLOB = "events.out.tfevents.*"
_EXIT_USAGE_ERROR = 2  # same code as embodied_rl.cli.EXIT_CONFIG_ERROR

Series = list[tuple[int, float]]


# --------------------------------------------------------------------------- reading


def read_scalars(run_dir: Path) -> dict[str, Series]:
    """All scalar series of a run.

    TensorBoard event files under ``<run_dir>/tb`` are read (all of them, so a resumed
    run with several files comes back whole; steps purged by a resume are dropped).
    When there are none, or they hold no scalars, ``<run_dir>/metrics.jsonl`` is read
    instead. TensorBoard stores float32, so values match ``metrics.jsonl`` to ~7 digits.

    Args:
        run_dir: A run directory, as written by :class:`embodied_rl.logging.MetricLogger`.

    Returns:
        ``tag -> [(step, value), ...]`` sorted by step; when a step was logged twice the
        value written last is kept. Non-finite values are kept as they are.

    Raises:
        FileNotFoundError: ``run_dir`` has neither TensorBoard event files nor ``metrics.jsonl``.
    """
    from embodied_rl.logging import METRICS_FILE, TB_DIR  # imports torch: not at CLI start-up

    run_dir = Path(run_dir)
    scalars = _read_tensorboard(run_dir / TB_DIR)
    if scalars:
        return scalars
    if (run_dir / METRICS_FILE).is_file():
        return _read_jsonl(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    raise FileNotFoundError(
        f"{run_dir} has no metrics: neither TensorBoard event files under {run_dir / TB_DIR} "
        f"nor {METRICS_FILE} (is it a run directory?)"
    )


def _read_tensorboard(tb_dir: Path) -> dict[str, Series]:
    """Scalars of every event file under ``tb_dir`` (later writes win on equal steps)."""
    if not tb_dir.is_dir():
        return {}
    event_dirs = sorted({path.parent for path in tb_dir.rglob(_EVENT_GLOB) if path.is_file()})
    timed: dict[str, list[tuple[float, int, float]]] = {}
    for event_dir in event_dirs:
        for tag, events in _read_event_dir(event_dir).items():
            timed.setdefault(tag, []).extend(events)
    # sorted() is stable: events with equal wall times stay in file order
    return {
        tag: _last_per_step((step, value) for _, step, value in sorted(events, key=lambda e: e[0]))
        for tag, events in timed.items()
    }


def _read_event_dir(event_dir: Path) -> dict[str, list[tuple[float, int, float]]]:
    """``tag -> [(wall_time, step, value)]`` of the event files directly in ``event_dir``.

    One accumulator reads the files in name (= creation time) order, so the purge a
    resumed :class:`~embodied_rl.logging.MetricLogger` writes drops the orphaned steps.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(event_dir), size_guidance={"scalars": 0})
    tb_logger = logging.getLogger("tensorboard")
    level = tb_logger.level
    tb_logger.setLevel(logging.ERROR)  # a resume's purge is expected, not worth a warning
    try:
        accumulator.Reload()
    finally:
        tb_logger.setLevel(level)
    return {
        tag: [(event.wall_time, int(event.step), float(event.value)) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def _read_jsonl(run_dir: Path) -> dict[str, Series]:
    """Scalars of ``metrics.jsonl`` (later rows win on equal steps)."""
    from embodied_rl.logging import read_metrics

    pairs: dict[str, list[tuple[int, float]]] = {}
    for row in read_metrics(run_dir):
        step = int(row.get("step", 0))
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)):
                pairs.setdefault(key, []).append((step, float(value)))
    return {tag: _last_per_step(points) for tag, points in pairs.items()}


def _last_per_step(points: Iterable[tuple[int, float]]) -> Series:
    """Keep the last value given for each step, sorted by step."""
    by_step = dict(points)
    return sorted(by_step.items())


# --------------------------------------------------------------------------- figures


def _check_suffix(out: Path) -> str:
    """The output format (``"png"`` or ``"svg"``) of ``out``'s suffix."""
    suffix = Path(out).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"cannot write {out}: the suffix must be one of {', '.join(_FORMATS)}")
    return suffix[1:]


def _new_figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # not a core dependency
        raise ImportError("plots need matplotlib: pip install matplotlib") from err
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Figure, out: Path, fmt: str) -> Path:
    """Write ``fig`` as ``fmt`` (creating parent dirs) and release it."""
    import matplotlib

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # svg: keep text as text (searchable, smaller) and no date, so files are reproducible
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "embodied-rl"}):
        if fmt == "png":
            fig.savefig(out, format="png", dpi=PNG_DPI)
        else:
            fig.savefig(out, format="svg", metadata={"Date": None})
    fig.clear()
    return out


def _format_steps(x: float, _pos: int | None = None) -> str:
    """Tick label for an env-step count: ``0``, ``500``, ``100k``, ``1.5M``, ``2B``."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _is_rate(tag: str) -> bool:
    """Whether ``tag`` holds a fraction in [0, 1] to be drawn as percent."""
    return "success" in tag.rpartition("/")[2]


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over up to ``window`` points; non-finite values are skipped."""
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    lag = np.arange(len(values)) - window
    prev_sums = np.where(lag >= 0, sums[np.maximum(lag, 0)], 0.0)
    prev_counts = np.where(lag >= 0, counts[np.maximum(lag, 0)], 0)
    n = counts - prev_counts
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums - prev_sums) / np.maximum(n, 1), np.nan)


# --------------------------------------------------------------------------- learning curves


def plot_learning_curves(
    runs: Mapping[str, Path],
    out: Path,
    tags: Sequence[str] | None = None,
    smooth: int = 1,
) -> Path:
    """Draw scalar series of one or more runs against env steps.

    One subplot per tag (three per row), one line per run in the same colour in every
    subplot. Tags naming a success rate (``success`` in the part after ``/``) are drawn
    in percent on a fixed 0-100 axis. Requested tags that no run has are skipped with a
    warning.

    Args:
        runs: ``label -> run directory``; the label names the run in the legend.
        out: The file to write, ``.png`` (120 dpi) or ``.svg``; parent dirs are created.
        tags: Tags to draw; default: those of :data:`DEFAULT_CURVE_TAGS` any run has.
        smooth: Moving-average window in logged points; with ``smooth > 1`` each run is
            drawn faint as logged plus a trailing average over ``smooth`` points.

    Returns:
        ``out``.

    Raises:
        ValueError: Bad suffix, no runs, ``smooth < 1``, or none of the tags exists
            (the message lists the tags the runs have).
        FileNotFoundError: A run directory has no metrics.
    """
    fmt = _check_suffix(out)
    if not runs:
        raise ValueError("plot_learning_curves needs at least one run")
    if smooth < 1:
        raise ValueError(f"smooth must be >= 1, got {smooth}")
    scalars = {label: read_scalars(Path(run_dir)) for label, run_dir in runs.items()}
    chosen = _resolve_tags(scalars, tags)
    ncols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig = _new_figure(4.8 * ncols, 3.4 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    colors = _run_colors(len(scalars))
    for ax, tag in zip(axes, chosen, strict=False):
        _plot_tag(ax, tag, scalars, colors, smooth)
    for ax in axes[len(chosen) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:  # the first tag may lack some runs: collect across subplots
        handles, labels = _all_handles(axes)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)
    return _save(fig, out, fmt)


def _resolve_tags(scalars: Mapping[str, Mapping[str, Series]], tags: Sequence[str] | None) -> list[str]:
    """The tags to draw: requested (or default) ones that at least one run has."""
    available = sorted({tag for series in scalars.values() for tag, points in series.items() if points})
    wanted = list(DEFAULT_CURVE_TAGS if tags is None else dict.fromkeys(tags))
    chosen = [tag for tag in wanted if tag in available]
    if not chosen:
        runs = ", ".join(scalars)
        raise ValueError(
            f"none of the tags {wanted} is in the runs ({runs}); available tags: {', '.join(available) or 'none'}"
        )
    missing = [tag for tag in wanted if tag not in available]
    if tags is not None and missing:
        warnings.warn(f"no run has the tags {missing}; they are not drawn", stacklevel=3)
    return chosen


def _run_colors(n: int) -> list[str]:
    """``n`` distinct colours (tab10, then tab20 for more runs)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _plot_tag(
    ax: Axes, tag: str, scalars: Mapping[str, Mapping[str, Series]], colors: Sequence, smooth: int
) -> None:
    """Draw one tag of every run that has it on ``ax``."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    scale = 100.0 if _is_rate(tag) else 1.0
    for (label, series), color in zip(scalars.items(), colors, strict=True):
        points = series.get(tag)
        if not points:
            continue
        steps = np.array([step for step, _ in points], dtype=float)
        values = np.array([value for _, value in points], dtype=float) * scale
        if smooth > 1:
            ax.plot(steps, values, color=color, alpha=0.25, linewidth=1.0)
            ax.plot(steps, _smooth(values, smooth), color=color, linewidth=1.6, label=label)
        else:
            ax.plot(
                steps,
                values,
                color=color,
                linewidth=1.6,
                label=label,
                marker="." if len(steps) < 20 else None,
            )
    ax.set_title(tag, fontsize=10)
    ax.set_xlabel("env steps")
    ax.xaxis.set_major_formatter(FuncFormatter(_format_steps))
    ax.grid(alpha=0.3)
    if scale != 1.0:
        ax.set_ylim(-3, 103)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.yaxis.set_major_formatter(PercentFormatter(100))


def _all_handles(axes: Sequence[Axes]) -> tuple[list, list[str]]:
    """Legend handles of all subplots, one per label."""
    by_label: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            by_label.setdefault(label, handle)
    return list(by_label.values()), list(by_label)


# --------------------------------------------------------------------------- success rates


def plot_success_rates(
    rows: Sequence[tuple[str, Sequence[tuple[float, float, float] | None]]],
    run_labels: Sequence[str],
    out: Path,
) -> Path:
    """Bar chart of per-task success rates with 95% confidence-interval error bars.

    One group of bars per task, one bar per run (in ``run_labels`` order, with a legend
    when there is more than one run). Rates are fractions and drawn as percent. A
    ``None`` entry (the run did not evaluate that task) leaves a gap marked ``n/a``.
    With more than :data:`HORIZONTAL_BARS_ABOVE` tasks the bars are horizontal, tasks
    top to bottom, so long task names stay readable; the figure grows with the tasks.

    Args:
        rows: ``[(task_name, [(rate, ci_low, ci_high) or None, one per run]), ...]``.
        run_labels: The run names, one per entry of each row.
        out: The file to write, ``.png`` (120 dpi) or ``.svg``; parent dirs are created.

    Returns:
        ``out``.

    Raises:
        ValueError: Bad suffix, no rows or runs, or a row with the wrong number of entries.
    """
    fmt = _check_suffix(out)
    if not rows or not run_labels:
        raise ValueError("plot_success_rates needs at least one task and one run")
    for task, entries in rows:
        if len(entries) != len(run_labels):
            raise ValueError(
                f"task {task!r} has {len(entries)} entries, expected one per run ({len(run_labels)})"
            )
    horizontal = len(rows) > HORIZONTAL_BARS_ABOVE
    fig = _new_figure(*_bar_figsize(len(rows), len(run_labels), horizontal))
    ax = fig.subplots()
    colors = _run_colors(len(run_labels))
    width = 0.8 / len(run_labels)
    for r, (label, color) in enumerate(zip(run_labels, colors, strict=True)):
        offset = (r - (len(run_labels) - 1) / 2) * width
        _draw_bars(ax, [entries[r] for _, entries in rows], offset, width, label, color, horizontal)
    _style_bar_axes(ax, [task for task, _ in rows], horizontal)
    if len(run_labels) > 1:
        _run_legend(ax, run_labels, colors)
    return _save(fig, out, fmt)


def _run_legend(ax: Axes, run_labels: Sequence[str], colors: Sequence) -> None:
    """Legend of colour patches (a run with only ``None`` entries has no bar to take one from)."""
    from matplotlib.patches import Patch

    handles = [Patch(color=color, label=label) for label, color in zip(run_labels, colors, strict=True)]
    ax.legend(handles=handles, loc="best", fontsize=8)


def _bar_figsize(n_tasks: int, n_runs: int, horizontal: bool) -> tuple[float, float]:
    """Figure size that leaves each bar a readable width."""
    if horizontal:
        return 8.0, max(4.0, 1.2 + n_tasks * (0.15 * n_runs + 0.12))
    group = 0.25 * n_runs + 0.3
    return max(6.0, 1.5 + n_tasks * group), 4.5


def _draw_bars(
    ax: Axes,
    entries: Sequence[tuple[float, float, float] | None],
    offset: float,
    width: float,
    label: str,
    color: object,
    horizontal: bool,
) -> None:
    """One run's bars (one per task) with asymmetric CI error bars; ``n/a`` for ``None``."""
    present = [(i, e) for i, e in enumerate(entries) if e is not None]
    pos = np.array([i + offset for i, _ in present])
    rate = np.array([100.0 * e[0] for _, e in present])
    err = np.array([[max(0.0, e[0] - e[1]) for _, e in present], [max(0.0, e[2] - e[0]) for _, e in present]])
    style = {"color": color, "label": label, "capsize": 3, "error_kw": {"elinewidth": 1, "ecolor": "0.25"}}
    if horizontal:
        ax.barh(pos, rate, height=width, xerr=100.0 * err, **style)
    else:
        ax.bar(pos, rate, width=width, yerr=100.0 * err, **style)
    for i, entry in enumerate(entries):
        if entry is None:
            xy = (1.0, i + offset) if horizontal else (i + offset, 1.0)
            ax.text(
                *xy,
                "n/a",
                fontsize=7,
                color="0.4",
                ha="left" if horizontal else "center",
                va="center" if horizontal else "bottom",
                rotation=0 if horizontal else 90,
            )


def _style_bar_axes(ax: Axes, tasks: Sequence[str], horizontal: bool) -> None:
    """Task names on one axis, 0-100 % on the other."""
    from matplotlib.ticker import PercentFormatter

    ticks = np.arange(len(tasks))
    if horizontal:
        ax.set_yticks(ticks, tasks, fontsize=8)
        ax.invert_yaxis()  # first task on top
        ax.set_xlim(0, 105)
        ax.xaxis.set_major_formatter(PercentFormatter(100))
        ax.set_xlabel("success rate (95% CI)")
        ax.grid(axis="x", alpha=0.3)
    else:
        long_names = max(len(t) for t in tasks) > 10
        ax.set_xticks(ticks, tasks, rotation=30 if long_names else 0, ha="right" if long_names else "center")
        ax.set_ylim(0, 105)
        ax.yaxis.set_major_formatter(PercentFormatter(100))
        ax.set_ylabel("success rate (95% CI)")
        ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


# --------------------------------------------------------------------------- CLI


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``embodied-rl plot`` to ``parser``."""
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories to compare")
    parser.add_argument(
        "--tags",
        nargs="+",
        metavar="TAG",
        help=f"metric tags to draw, one subplot each (default: those of {', '.join(DEFAULT_CURVE_TAGS)} present)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("curves.png"),
        metavar="FILE",
        help="output .png or .svg (default curves.png)",
    )
    parser.add_argument(
        "--smooth",
        type=int,
        default=1,
        metavar="N",
        help="moving-average window in logged points (default 1: none)",
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        metavar="L",
        help="legend names, one per RUN_DIR (default: the directory names)",
    )


def run_plot(args: argparse.Namespace) -> int:
    """Run ``embodied-rl plot``: write learning curves of the given runs and print the path.

    Returns:
        0 on success; 2 (with a message on stderr) for a usage error such as unknown
        tags, a bad suffix or a wrong number of labels. A missing run directory raises
        :class:`FileNotFoundError` (the CLI reports it).
    """
    try:
        runs = _label_runs([Path(run) for run in args.runs], args.labels)
        out = plot_learning_curves(runs, Path(args.out), tags=args.tags, smooth=args.smooth)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return _EXIT_USAGE_ERROR
    print(out)
    return 0


def _label_runs(run_dirs: Sequence[Path], labels: Sequence[str] | None) -> dict[str, Path]:
    """``label -> run dir``; default labels are the directory names (full paths where names clash)."""
    if labels is None:
        names = [run.resolve().name or str(run) for run in run_dirs]
        labels = [
            name if names.count(name) == 1 else str(run) for name, run in zip(names, run_dirs, strict=True)
        ]
    if len(labels) != len(run_dirs):
        raise ValueError(f"got {len(labels)} labels for {len(run_dirs)} run directories")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {list(labels)}")
    return dict(zip(labels, run_dirs, strict=True))
