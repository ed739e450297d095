"""MuJoCo's offscreen OpenGL backend (``MUJOCO_GL``), chosen once per process.

Gymnasium's MuJoCo renderer reads ``MUJOCO_GL`` when it creates its first GL context, and
PyOpenGL fixes its platform (``PYOPENGL_PLATFORM``) the first time ``OpenGL`` is imported.
So the backend must be decided before anything renders, and a failed try cannot be undone
in the same process: :func:`ensure_gl_backend` therefore probes each candidate in a short
subprocess (about 0.3 s, once per process) and then sets ``MUJOCO_GL`` (and
``PYOPENGL_PLATFORM``) in ``os.environ``, where worker processes started afterwards inherit it.
"""

from __future__ import annotations

import os
import subprocess
import sys

BACKENDS = ("egl", "osmesa")
"""The headless backends tried, in this order, when ``MUJOCO_GL`` is not set."""

GYMNASIUM_BACKENDS = ("egl", "osmesa", "glfw")
"""The ``MUJOCO_GL`` values Gymnasium's MuJoCo renderer accepts (``glfw`` needs a display)."""

INSTALL_HINT = "apt-get install libegl1 (EGL) or libosmesa6 (OSMesa)"

_PROBE = (
    "import importlib, sys\n"
    "try:\n"
    "    ctx = importlib.import_module('mujoco.' + sys.argv[1]).GLContext(16, 16)\n"
    "    ctx.make_current()\n"
    "    ctx.free()\n"
    "except BaseException as err:\n"
    "    print(f'{type(err).__name__}: {err}'.splitlines()[0], flush=True)\n"
    "    sys.exit(1)\n"
)


class GLBackendError(RuntimeError):
    """No OpenGL backend can render MuJoCo offscreen (the message names the fix)."""


def probe_gl_backend(backend: str, timeout_s: float = 60.0) -> str | None:
    """Try to create a MuJoCo GL context with ``backend`` in a fresh process.

    Returns:
        ``None`` when it worked, else the reason it failed (the error's last line).
    """
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, backend],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{type(err).__name__}: {err}"
    if result.returncode == 0:
        return None
    reported = result.stdout.strip().splitlines()  # the probe's own exception, if it got that far
    if reported:
        return reported[-1]
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def ensure_gl_backend() -> str:
    """Return the backend MuJoCo renders with, choosing and exporting it when unset.

    An existing ``MUJOCO_GL`` is respected (it must be one Gymnasium's renderer accepts).
    Otherwise EGL is tried, then OSMesa (only the one ``PYOPENGL_PLATFORM`` names, when set),
    and the first that creates a context is written to ``os.environ["MUJOCO_GL"]``.

    Raises:
        GLBackendError: ``MUJOCO_GL`` has a value Gymnasium cannot render with, or no backend
            works; the message says what to install.
    """
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested:
        if requested not in GYMNASIUM_BACKENDS:
            raise GLBackendError(
                f"MUJOCO_GL={os.environ['MUJOCO_GL']!r} cannot render Gymnasium MuJoCo envs: set it to "
                f"one of {', '.join(GYMNASIUM_BACKENDS)} (egl/osmesa need no display), or unset it so "
                "embodied-rl picks one"
            )
        if requested in BACKENDS:
            os.environ.setdefault("PYOPENGL_PLATFORM", requested)
        _import_mujoco(requested)
        return requested
    platform = os.environ.get("PYOPENGL_PLATFORM", "").strip().lower()
    candidates = (platform,) if platform in BACKENDS else BACKENDS
    failures: dict[str, str] = {}
    for backend in candidates:
        error = probe_gl_backend(backend)
        if error is None:
            os.environ["MUJOCO_GL"] = backend
            os.environ["PYOPENGL_PLATFORM"] = backend
            _import_mujoco(backend)
            return backend
        failures[backend] = error
    tried = "; ".join(f"{backend}: {error}" for backend, error in failures.items())
    pinned = ""
    if platform:
        allowed = "allows only that one" if platform in BACKENDS else "must be unset, 'egl' or 'osmesa'"
        pinned = f" (PYOPENGL_PLATFORM={platform!r} {allowed})"
    raise GLBackendError(
        f"MuJoCo cannot render offscreen: no OpenGL backend could create a context{pinned} ({tried}). "
        f"Install one: {INSTALL_HINT}; or set MUJOCO_GL to a backend that works."
    )


def _import_mujoco(backend: str) -> None:
    """Import ``mujoco`` now that ``MUJOCO_GL`` is decided (it loads that backend's GL module)."""
    try:
        import mujoco  # noqa: F401
    except ImportError as err:
        if err.name == "mujoco":  # not installed: the registry's install hint applies
            raise
        raise render_failure(backend, err) from err
    except Exception as err:  # e.g. PyOpenGL without the library: AttributeError on glGetError
        raise render_failure(backend, err) from err


def render_failure(backend: str, err: BaseException) -> GLBackendError:
    """The error for a first render that failed with ``backend`` (e.g. a ``MUJOCO_GL`` set by hand)."""
    return GLBackendError(
        f"MuJoCo could not render offscreen with MUJOCO_GL={backend!r} ({type(err).__name__}: {err}). "
        f"Install an OpenGL backend: {INSTALL_HINT}; or set MUJOCO_GL to one that works "
        "(unset, embodied-rl tries egl then osmesa)."
    )
