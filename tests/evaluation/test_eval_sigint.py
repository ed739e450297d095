"""Ctrl-C on a real `embodied-rl eval` process: exit 130 and a partial report on disk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_sigint_writes_a_partial_report(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    script = Path(sys.executable).parent / "embodied-rl"
    args = ["eval", "scripted:random", "--env", "PointReach-v0", "--episodes", "100000", "--num-envs", "1"]
    proc = subprocess.Popen(
        [str(script), *args, "--videos", "0", "--no-progress", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run started in the background (`make test &`) inherits SIGINT ignored; give
        # the child the default action so Python installs its KeyboardInterrupt handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not out.is_dir():  # the output dir appears when episodes start
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "eval did not start within 120 s"
            time.sleep(0.1)
        time.sleep(1.0)  # let some episodes finish
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is True
    episodes = data["tasks"][0]["episodes"]
    assert 0 < len(episodes) < 100_000
    assert [e["seed"] for e in episodes] == list(
        range(10_000, 10_000 + len(episodes))
    )  # the first ones, in order
    assert "partial" in (out / "report.html").read_text().lower()
    assert "PARTIAL" in stdout
