"""Metrics (TensorBoard + JSON lines), a progress bar and summary tables.

Metric keys are namespaced ``<namespace>/<name>`` with the namespace one of
:data:`NAMESPACES`, so that TensorBoard groups them and every run logs the same way.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from torch.utils.tensorboard import SummaryWriter

NAMESPACES = ("train", "rollout", "eval", "time", "charts", "sft", "policy")
"""Allowed first parts of a metric key."""

METRICS_FILE = "metrics.jsonl"
TB_DIR = "tb"


def _check_key(key: str) -> None:
    namespace, sep, name = key.partition("/")
    if namespace not in NAMESPACES or not sep or not name:
        raise ValueError(f"metric key {key!r} must be '<namespace>/<name>' with namespace in {NAMESPACES}")


def _to_number(key: str, value: Any) -> float | int:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            shape = tuple(value.shape)
            raise ValueError(f"metric {key!r} is a tensor of shape {shape}, not a scalar")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return float(value)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            # a crash mid-write can only cut the last line; anything else is real corruption
            if i != len(lines) - 1:
                raise
    return rows


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``<run_dir>/metrics.jsonl``, one dict per :meth:`MetricLogger.log` call.

    Non-finite values come back as ``float("nan")`` / ``float("inf")``.

    Raises:
        FileNotFoundError: The run has no ``metrics.jsonl``.
    """
    return _read_lines(Path(run_dir) / METRICS_FILE)


class MetricLogger:
    """Write scalar metrics to TensorBoard (``<run_dir>/tb``) and ``<run_dir>/metrics.jsonl``.

    Both are flushed after every :meth:`log` call, so a crash loses nothing that was
    logged. Opening an existing run directory appends to its files (a last
    ``metrics.jsonl`` line cut short by a crash is dropped first).

    Args:
        run_dir: The run directory (created if missing).
        tensorboard: Write TensorBoard event files.
        jsonl: Append to ``metrics.jsonl``.
        truncate_after_step: When a run resumes from a checkpoint older than its last
            logged step, drop the ``metrics.jsonl`` rows after this step and have
            TensorBoard discard its events after it, so curves are not logged twice.
    """

    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = True,
        jsonl: bool = True,
        truncate_after_step: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._writer: SummaryWriter | None = None
        self._file: TextIO | None = None
        self._closed = False
        if jsonl:
            path = self.run_dir / METRICS_FILE
            if truncate_after_step is not None and path.exists():
                self._truncate(path, truncate_after_step)
            self._drop_cut_line(path)
            self._file = open(path, "a", encoding="utf-8")
        if tensorboard:
            purge = None if truncate_after_step is None else truncate_after_step + 1
            self._writer = SummaryWriter(log_dir=str(self.run_dir / TB_DIR), purge_step=purge)

    @staticmethod
    def _drop_cut_line(path: Path) -> None:
        """Remove a last line cut by a crash, so that appended rows stay parseable."""
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.seek(0)
                f.truncate(f.read().rfind(b"\n") + 1)

    @staticmethod
    def _truncate(path: Path, after_step: int) -> None:
        rows = [r for r in _read_lines(path) if r.get("step", 0) <= after_step]
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash here leaves the old file, never a cut one

    def log(self, metrics: Mapping[str, float | int | torch.Tensor], step: int) -> None:
        """Log scalars at env step ``step``.

        Non-finite values are written as they are (``NaN``/``Infinity`` in the JSON
        line): a diverging run is exactly what the user needs to see.

        Raises:
            ValueError: A key is not namespaced, or a tensor value is not a scalar.
            RuntimeError: The logger is closed.
        """
        if self._closed:
            raise RuntimeError("MetricLogger.log() called after close()")
        for key in metrics:
            _check_key(key)
        values = {key: _to_number(key, value) for key, value in metrics.items()}
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(key, value, global_step=step)
            self._writer.flush()
        if self._file is not None:
            self._file.write(json.dumps({"step": int(step), **values}) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Flush and close the files (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> MetricLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _RateColumn(ProgressColumn):
    """Units (env steps, episodes) per second."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.speed
        text = "" if speed is None else f"{speed:,.{0 if speed >= 10 else 1}f} {self.unit}/s"
        return Text(text, style="progress.data.speed")


def _format_field(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and not math.isfinite(value)):
        return str(value)
    return f"{value:.4g}"


class TrainProgress:
    """A progress bar over env steps (or another unit) with rate and ETA, plus ``key=value`` fields.

    Without a terminal rich does not redraw; the final state is printed once on
    :meth:`close`. With ``enable=False`` nothing is printed.

    Args:
        total: Total env steps.
        description: Text before the bar.
        enable: Show the bar.
        console: Where to draw (defaults to rich's stdout console).
        unit: What is counted, for the rate column.
    """

    def __init__(
        self,
        total: int,
        description: str = "train",
        enable: bool = True,
        console: Console | None = None,
        unit: str = "steps",
    ) -> None:
        self.total = total
        self.completed = 0
        self._progress: Progress | None = None
        if enable:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(unit),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=console,
            )
            self._task = self._progress.add_task(description, total=total, info="")
            self._progress.start()

    def update(self, completed: int, info: str | None = None, **fields: float) -> None:
        """Set the number done and what is shown after the bar (``info``, else ``key=value`` fields)."""
        self.completed = completed
        if self._progress is not None:
            if info is None:
                info = "  ".join(f"{k}={_format_field(v)}" for k, v in fields.items())
            self._progress.update(self._task, completed=completed, info=info)

    def close(self) -> None:
        """Stop drawing (idempotent)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> TrainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def summary_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    """A two-column ``name | value`` table (run summaries, eval results)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_table(title: str, rows: Sequence[tuple[str, str]], console: Console | None = None) -> None:
    """Print :func:`summary_table` to ``console`` (default: stdout)."""
    (console or Console()).print(summary_table(title, rows))
