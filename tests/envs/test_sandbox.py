"""Escape attempts against the bwrap Python sandbox: each must be contained and reported."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from embodied_rl.envs.tools import sandbox as sandbox_mod
from embodied_rl.envs.tools.sandbox import ExecutionResult, PythonSandbox, SandboxLimits, SandboxUnavailable

REPO = Path(__file__).resolve().parents[2]
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture
def box() -> PythonSandbox:
    return PythonSandbox()


def _procs_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_missing_bwrap_raises_with_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_mod.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap.*allow_unsandboxed=True"):
        PythonSandbox(bwrap=None)


def test_unsandboxed_fallback_warns_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_mod.shutil, "which", lambda name: None)
    unsafe = PythonSandbox(allow_unsandboxed=True, limits=SandboxLimits(timeout_s=1.0))
    with pytest.warns(UserWarning, match="WITHOUT isolation"):
        res = unsafe.run("print(6 * 7)")
    assert res.ok and res.stdout == "42\n"
    assert unsafe.run("while True: pass").timed_out  # the timeout still holds, no second warning


def test_oversized_code_is_rejected_without_running() -> None:
    res = PythonSandbox(limits=SandboxLimits(max_code_bytes=100), allow_unsandboxed=True).run("x = 1\n" * 50)
    assert res.exit_code is None and not res.ok and "code too large (300 bytes" in res.error


@needs_bwrap
def test_normal_code_stdin_and_exceptions(box: PythonSandbox) -> None:
    res = box.run("print(sum(range(10)))")
    assert res.ok and res.stdout == "45\n" and res.stderr == "" and res.to_observation() == "45"
    assert box.run("import sys; print(sys.stdin.read().upper())", stdin="hi\n").stdout == "HI\n\n"
    assert box.run("import math, json, fractions, itertools, collections, re; print(math.pi > 3)").ok
    res = box.run("raise ValueError('boom')")
    assert res.exit_code == 1 and res.error == "exit code 1" and "ValueError: boom" in res.stderr
    assert res.to_observation().endswith("[error] exit code 1")


@needs_bwrap
def test_host_files_are_invisible(box: PythonSandbox) -> None:
    code = f"""
import os
for path in ({str(REPO / "pyproject.toml")!r}, "/etc/shadow", "/etc/passwd", "/root/.bashrc"):
    try:
        print(path, open(path).read()[:200])
    except OSError as e:
        print(path, "ERR", type(e).__name__)
for d in ("/", "/work", "/root", "/home", {str(REPO)!r}):
    try:
        print(d, sorted(os.listdir(d)))
    except OSError as e:
        print(d, "ERR", type(e).__name__)
"""
    res = box.run(code)
    assert res.ok, res
    assert "[build-system]" not in res.stdout and "root:" not in res.stdout
    assert res.stdout.count("ERR FileNotFoundError") >= 6  # 4 files + /root, /home, the repo
    assert "/work []" in res.stdout  # the sandbox's own, empty work dir
    top = next(line for line in res.stdout.splitlines() if line.startswith("/ ["))
    assert "'home'" not in top and "'root'" not in top and "'etc'" not in top


@needs_bwrap
def test_writes_stay_inside(box: PythonSandbox) -> None:
    name = f"sandbox-escape-{uuid.uuid4().hex}"
    code = f"""
for path in ("/usr/{name}", "/tmp/{name}", {str(REPO / name)!r}, "/work/{name}"):
    try:
        open(path, "w").write("pwned")
        print(path, "WROTE")
    except OSError as e:
        print(path, "ERR", type(e).__name__)
"""
    res = box.run(code)
    assert res.ok, res
    assert f"/usr/{name} ERR" in res.stdout and f"{REPO / name} ERR" in res.stdout
    assert f"/tmp/{name} WROTE" in res.stdout  # the sandbox's private tmpfs
    assert not any(Path(d, name).exists() for d in ("/usr", "/tmp", str(REPO), "/work"))


@needs_bwrap
def test_no_network(box: PythonSandbox) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []
    server.settimeout(3)
    threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True).start()
    port = server.getsockname()[1]
    code = f"""
import socket
for addr in (("1.1.1.1", 80), ("127.0.0.1", {port})):
    try:
        socket.create_connection(addr, timeout=2)
        print(addr, "CONNECTED")
    except OSError as e:
        print(addr, "ERR", type(e).__name__)
"""
    try:
        res = box.run(code)
    finally:
        server.close()
    assert res.ok, res
    assert "CONNECTED" not in res.stdout and res.stdout.count("ERR") == 2
    assert accepted in ([], [None])


def _accept(server: socket.socket) -> object:
    try:
        return server.accept()
    except OSError:
        return None


BOMBS = {
    "plain": ("import os\nwhile True:\n    os.fork()", None),
    "persistent": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        None,
    ),
    # As root without the uid drop RLIMIT_NPROC does not apply: 64 sleepers must still all die.
    "root_no_nproc": (
        "import os, time\nfor _ in range(6):\n    os.fork()\nwhile True:\n    time.sleep(1)",
        "root",
    ),
}


@needs_bwrap
@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_fork_bomb_is_contained(kind: str) -> None:
    code, mode = BOMBS[kind]
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("only meaningful when running as root")
    marker = f"forkbomb-{uuid.uuid4().hex}"
    limits = SandboxLimits(timeout_s=2.0, max_processes=32)
    bomb = PythonSandbox(limits=limits, sandbox_uid=None if mode == "root" else 65534)
    start = time.monotonic()
    res = bomb.run(f"# {marker}\n{code}")
    assert time.monotonic() - start < 2.0 + 5
    assert not res.ok and res.error is not None
    deadline = time.monotonic() + 3
    while _procs_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _procs_with(marker) == []  # nothing outlived the run
    assert box_still_works()


def box_still_works() -> bool:
    return PythonSandbox().run("print(1)").stdout == "1\n"


@needs_bwrap
def test_memory_bomb(box: PythonSandbox) -> None:
    res = box.run("x = bytearray(4 * 1024**3)")
    assert not res.ok and "memory" in res.error
    assert box_still_works()


@needs_bwrap
def test_infinite_loop_times_out() -> None:
    start = time.monotonic()
    res = PythonSandbox(limits=SandboxLimits(timeout_s=1.0)).run("while True: pass")
    assert time.monotonic() - start < 3
    assert res.timed_out and res.error == "timed out after 1.0 s" and not res.ok


@needs_bwrap
def test_output_flood_is_truncated(box: PythonSandbox) -> None:
    start = time.monotonic()
    res = box.run('import sys\nwhile True: sys.stdout.write("x" * 65536)')
    assert time.monotonic() - start < 3
    assert res.truncated and res.error == "output limit exceeded" and not res.ok
    limit = box.limits.max_output_bytes
    assert res.stdout.startswith("x" * limit) and len(res.stdout) <= limit + len(
        "\n[... 99999999999 bytes truncated]"
    )
    assert "bytes truncated]" in res.stdout and isinstance(res, ExecutionResult)
