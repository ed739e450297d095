"""Run untrusted Python code from a model inside a bubblewrap sandbox.

Threat model:
    The code is written by a language model (or by whoever steers it through a prompt) and is
    treated as hostile. It may try to read or write host files, reach the network, fork without
    end, allocate all memory, spin forever, or flood its output. ``PythonSandbox.run`` must
    contain all of that, report it as an ``ExecutionResult``, and leave the calling (training)
    process unharmed.

What is isolated (``bwrap`` present):
    * Filesystem: only ``/usr`` (and the ``/bin``, ``/lib``, ``/lib64``, ``/sbin`` links) is
      mounted, read-only. ``/home``, ``/root``, ``/etc``, the host ``/tmp`` and the repository are
      absent. ``/tmp`` and the working dir ``/work`` are fresh, size-capped tmpfs mounts that
      vanish with the run.
    * Namespaces: network (no interface but an empty loopback), pid, ipc, uts, user and cgroup
      are all unshared; nested user namespaces are disabled where bwrap supports it.
    * Privileges: when the caller is root, the sandbox runs as ``sandbox_uid`` (``nobody``), so
      that ``RLIMIT_NPROC`` is enforced (the kernel ignores it for root) and no host root
      credentials are ever held by the code. bwrap drops all capabilities.
    * Resources: rlimits on CPU time, address space, file size, processes and core dumps; a
      wall-clock timeout after which the whole process group is killed with ``SIGKILL``; the
      pid namespace dies with its init, taking every forked child with it.
    * Output: stdout and stderr are read incrementally and truncated; a run that floods its
      output is killed.

What is NOT isolated:
    * The kernel is shared: a kernel exploit escapes any namespace sandbox.
    * ``/usr`` is readable, so installed software (and its versions) is visible.
    * CPU time within the limits is shared with the host. ``RLIMIT_NPROC`` is per uid: each run
      gets ``max_processes`` on top of the tasks the uid already has, so sandboxes started at the
      same moment share their budgets (still bounded, and each run's timeout still holds).
    * With ``allow_unsandboxed=True`` and no bwrap, code runs as the calling user with rlimits
      and a timeout only: it can read and write anything that user can, and use the network.
"""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import IO

_MISSING_BWRAP = (
    "bubblewrap (bwrap) is not installed: apt-get install bubblewrap; "
    "or set allow_unsandboxed=True to run code WITHOUT isolation (unsafe)"
)
_CHUNK = 65_536
_OUTPUT_KILL_FACTOR = 64  # kill a run once it has written this many times max_output_bytes
_DRAIN_GRACE_S = 1.0  # how long to wait for pipes to close after a kill
_NOBODY = 65_534


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run.

    Attributes:
        timeout_s: Wall-clock limit in seconds; the whole process group is then killed.
        cpu_s: CPU-time limit in seconds (``RLIMIT_CPU``).
        memory_mb: Address-space limit in MiB (``RLIMIT_AS``).
        max_output_bytes: Bytes kept of stdout and of stderr, each; the rest is counted only.
        max_processes: Process/thread limit (``RLIMIT_NPROC``, per real uid).
        max_code_bytes: Largest accepted source, in UTF-8 bytes.
        max_file_mb: Largest file the code may write, in MiB (``RLIMIT_FSIZE``); the tmpfs
            mounts ``/tmp`` and ``/work`` are each capped at four times this.
    """

    timeout_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 512
    max_output_bytes: int = 16_384
    max_processes: int = 64
    max_code_bytes: int = 100_000
    max_file_mb: int = 16


@dataclass
class ExecutionResult:
    """What one run produced.

    Attributes:
        stdout: Decoded stdout, truncated to ``max_output_bytes`` plus a marker.
        stderr: Decoded stderr, truncated likewise.
        exit_code: The process exit code (``128 + signal`` when killed inside the sandbox,
            ``-signal`` when killed unsandboxed), or None when it never ran.
        timed_out: Whether the wall-clock timeout fired.
        truncated: Whether stdout or stderr lost bytes.
        error: Short reason the run failed, or None when it succeeded.
        duration_s: Wall-clock seconds the run took.
    """

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    truncated: bool
    error: str | None
    duration_s: float

    @property
    def ok(self) -> bool:
        """True when the code exited 0, in time and without error."""
        return self.exit_code == 0 and not self.timed_out and self.error is None

    def to_observation(self) -> str:
        """Render the result as the text a model sees: stdout, stderr, then the error line."""
        parts = [self.stdout.rstrip("\n")] if self.stdout else []
        if self.stderr:
            parts.append(f"[stderr]\n{self.stderr.rstrip(chr(10))}")
        if self.error:
            parts.append(f"[error] {self.error}")
        return "\n".join(parts) if parts else "[no output]"


class SandboxUnavailable(RuntimeError):
    """Raised when bubblewrap is missing and unsandboxed execution was not allowed."""


class _Stream:
    """A bounded buffer for one pipe: keeps the first ``limit`` bytes, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        """Append ``data``, keeping at most ``limit`` bytes."""
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.total += len(data)

    def text(self) -> str:
        """Decode what was kept, with a marker when bytes were dropped."""
        out = self.kept.decode("utf-8", errors="replace")
        dropped = self.total - len(self.kept)
        return out + f"\n[... {dropped} bytes truncated]" if dropped else out


class PythonSandbox:
    """Runs Python source in a fresh, resource-limited bubblewrap sandbox per call.

    Args:
        limits: Resource limits applied to every run.
        python: Interpreter inside the sandbox (must live under ``/usr``).
        allow_unsandboxed: When bwrap is missing, run code with rlimits only instead of raising.
            Unsafe: the code can then touch everything the calling user can.
        bwrap: Path of the bwrap binary; found on ``PATH`` when None.
        sandbox_uid: The uid the sandbox runs as when the caller is root (RLIMIT_NPROC is not
            enforced for root). None keeps root.

    Raises:
        SandboxUnavailable: bwrap is missing and ``allow_unsandboxed`` is False.
    """

    def __init__(
        self,
        limits: SandboxLimits = SandboxLimits(),  # noqa: B008 - frozen, so sharing is safe
        python: str = "/usr/bin/python3",
        allow_unsandboxed: bool = False,
        bwrap: str | None = None,
        sandbox_uid: int | None = _NOBODY,
    ) -> None:
        self.limits = limits
        self.python = python
        self.bwrap = bwrap or shutil.which("bwrap")
        self.sandbox_uid = sandbox_uid
        if self.bwrap is None and not allow_unsandboxed:
            raise SandboxUnavailable(_MISSING_BWRAP)
        self._warned = False
        self._bwrap_opts = self._probe_bwrap() if self.bwrap else set()

    @property
    def sandboxed(self) -> bool:
        """Whether runs go through bwrap (False only in the unsafe fallback)."""
        return self.bwrap is not None

    def run(self, code: str, stdin: str = "") -> ExecutionResult:
        """Execute ``code`` and report what happened; never raises for anything the code does.

        Args:
            code: Python source, run as ``python -c code``.
            stdin: Text fed to the program's stdin.

        Returns:
            The captured, truncated output and the reason for any failure.
        """
        start = time.monotonic()
        rejected = self._reject(code)
        if rejected:
            return ExecutionResult("", "", None, False, False, rejected, 0.0)
        if not self.sandboxed and not self._warned:
            warnings.warn("PythonSandbox: bwrap missing, code runs WITHOUT isolation", stacklevel=2)
            self._warned = True
        try:
            return self._execute(code, stdin, start)
        except (OSError, ValueError) as exc:  # fork failure, missing interpreter, ...: report, never raise
            return ExecutionResult("", "", None, False, False, f"sandbox failed to start: {exc}", 0.0)

    def _reject(self, code: str) -> str | None:
        """Why ``code`` must not run at all (too large, NUL byte, not encodable), or None."""
        try:
            size = len(code.encode("utf-8"))
        except UnicodeEncodeError:
            return "code is not valid UTF-8"
        if size > self.limits.max_code_bytes:
            return f"code too large ({size} bytes, limit {self.limits.max_code_bytes})"
        return "code contains a NUL byte" if "\0" in code else None

    # -- process management -------------------------------------------------------------------

    def _execute(self, code: str, stdin: str, start: float) -> ExecutionResult:
        """Start the process, pump its output under the deadline, and build the result."""
        with tempfile.TemporaryFile() as stdin_file, tempfile.TemporaryDirectory() as scratch:
            stdin_file.write(stdin.encode("utf-8", errors="replace"))
            stdin_file.seek(0)
            drop = self._drop_to_uid()
            nproc = self._nproc_limit(drop)
            with subprocess.Popen(
                self._argv(code),
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=scratch if not self.sandboxed else "/",
                env=self._env(scratch),
                user=drop,
                group=drop,
                extra_groups=[] if drop is not None else None,
                preexec_fn=lambda: self._set_rlimits(nproc),
                start_new_session=True,
                close_fds=True,
            ) as proc:
                out, err = _Stream(self.limits.max_output_bytes), _Stream(self.limits.max_output_bytes)
                try:
                    timed_out, flooded = self._pump(proc, out, err, start + self.limits.timeout_s)
                finally:
                    self._kill(proc)  # nothing may outlive a run, whatever happened above
                exit_code = proc.wait()
        duration = time.monotonic() - start
        truncated = out.total > len(out.kept) or err.total > len(err.kept)
        error = self._diagnose(exit_code, timed_out, flooded, err.text(), duration)
        return ExecutionResult(out.text(), err.text(), exit_code, timed_out, truncated, error, duration)

    def _pump(self, proc: subprocess.Popen, out: _Stream, err: _Stream, deadline: float) -> tuple[bool, bool]:
        """Read both pipes until EOF, killing the run on timeout or flood.

        Returns:
            ``(timed_out, flooded)``.
        """
        assert proc.stdout is not None and proc.stderr is not None
        streams: dict[IO[bytes], _Stream] = {proc.stdout: out, proc.stderr: err}
        flood_limit = _OUTPUT_KILL_FACTOR * self.limits.max_output_bytes
        timed_out = flooded = False
        with selectors.DefaultSelector() as sel:
            for pipe in streams:
                sel.register(pipe, selectors.EVENT_READ)
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if timed_out or flooded:  # already killed; something still holds a pipe
                        break
                    timed_out = True
                    self._kill(proc)
                    deadline = time.monotonic() + _DRAIN_GRACE_S
                    continue
                for key, _ in sel.select(timeout=remaining):
                    data = os.read(key.fd, _CHUNK)
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    streams[key.fileobj].feed(data)  # type: ignore[index]
                if not flooded and out.total + err.total > flood_limit:
                    flooded = True
                    self._kill(proc)
                    deadline = time.monotonic() + _DRAIN_GRACE_S
        return timed_out, flooded

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        """SIGKILL the run's whole process group (bwrap and, unsandboxed, every fork)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _drop_to_uid(self) -> int | None:
        """The uid to run as: ``sandbox_uid`` when the caller is root and sandboxed, else None."""
        if os.geteuid() == 0 and self.sandbox_uid is not None and self.sandboxed:
            return self.sandbox_uid
        return None

    def _nproc_limit(self, drop: int | None) -> int:
        """RLIMIT_NPROC counts every task of the real uid, so the uid's current tasks are added."""
        uid = os.getuid() if drop is None else drop
        return self.limits.max_processes + (_tasks_of_uid(uid) if uid != 0 else 0)

    def _set_rlimits(self, nproc: int) -> None:
        """In the child, after the uid drop and before exec: apply the rlimits (no allocation)."""
        lim = self.limits
        resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_s, lim.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (lim.memory_mb * 1024**2, lim.memory_mb * 1024**2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim.max_file_mb * 1024**2, lim.max_file_mb * 1024**2))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    # -- command line -------------------------------------------------------------------------

    def _argv(self, code: str) -> list[str]:
        """The full command: bwrap options (when sandboxed), then the interpreter."""
        py = [self.python, "-s", "-S", "-B", "-c", code]
        return self.bwrap_args() + py if self.sandboxed else py

    def bwrap_args(self) -> list[str]:
        """The bwrap argv prefix (without the interpreter) used for every sandboxed run."""
        assert self.bwrap is not None
        tmpfs_bytes = str(4 * self.limits.max_file_mb * 1024**2)
        size = ["--size", tmpfs_bytes] if "--size" in self._bwrap_opts else []
        args = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
        if "--disable-userns" in self._bwrap_opts:
            args += ["--unshare-user", "--disable-userns"]
        args += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        for link in ("/bin", "/lib", "/lib64", "/sbin"):
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += [*size, "--tmpfs", "/tmp", *size, "--tmpfs", "/work", "--chdir", "/work", "--clearenv"]
        for key, value in self._env("/work").items():
            args += ["--setenv", key, value]
        return args

    @staticmethod
    def _env(home: str) -> dict[str, str]:
        """The whole environment of the code (nothing is inherited from the host)."""
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            "PYTHONUTF8": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONSAFEPATH": "1",
        }

    def _probe_bwrap(self) -> set[str]:
        """Which optional bwrap flags this bwrap understands (they vary by version)."""
        try:
            proc = subprocess.run([self.bwrap, "--help"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"cannot run {self.bwrap}: {exc}") from exc
        text = proc.stdout + proc.stderr
        return {opt for opt in ("--size", "--disable-userns") if opt in text}

    # -- diagnosis ----------------------------------------------------------------------------

    def _diagnose(
        self, code: int, timed_out: bool, flooded: bool, stderr: str, duration: float
    ) -> str | None:
        """Turn the exit status into a short human-readable reason (None when the run was fine)."""
        lim = self.limits
        if timed_out:
            return f"timed out after {lim.timeout_s} s"
        if flooded:
            return "output limit exceeded"
        if code == 0:
            return None
        sig = -code if code < 0 else (code - 128 if self.sandboxed and code > 128 else 0)
        if "MemoryError" in stderr or (
            sig in (signal.SIGKILL, signal.SIGSEGV) and "Cannot allocate" in stderr
        ):
            return f"memory limit exceeded ({lim.memory_mb} MB)"
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and duration >= lim.cpu_s):
            return f"killed: CPU time limit ({lim.cpu_s} s)"
        if sig == signal.SIGXFSZ:
            return f"killed: file size limit ({lim.max_file_mb} MB)"
        if sig:
            return f"killed by signal {signal.Signals(sig).name}" if sig in _SIGNALS else f"exit code {code}"
        return f"exit code {code}"


_SIGNALS = {int(s) for s in signal.Signals}


def _tasks_of_uid(uid: int) -> int:
    """Count the tasks (threads) the user already runs: RLIMIT_NPROC counts them all."""
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return count
