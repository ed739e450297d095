"""Find a Vulkan driver for SAPIEN (ManiSkill3 needs Vulkan even for state observations).

Order: an ``VK_ICD_FILENAMES`` the user already set; the software driver (Mesa lavapipe)
that ``make vulkan`` / ``scripts/install_lavapipe.sh`` unpacks into the virtualenv
(``<venv>/share/embodied-rl/vulkan/lvp_icd.json``, no system change); otherwise the
system's drivers (e.g. NVIDIA's). :func:`prepare_vulkan` sets the environment variables
before SAPIEN starts; :func:`explain_vulkan_error` turns SAPIEN's "failed to find a
rendering device" into one error naming the fix.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

ICD_ENV = "VK_ICD_FILENAMES"
LAVAPIPE_ICD = Path("share") / "embodied-rl" / "vulkan" / "lvp_icd.json"
INSTALL_HINT = (
    "ManiSkill needs a Vulkan driver. Without a GPU, install Mesa's software driver into the "
    "virtualenv with `make vulkan` (runs scripts/install_lavapipe.sh: Mesa 25 lavapipe from Debian "
    "bookworm-backports, no system change), or set VK_ICD_FILENAMES to an ICD json of a Vulkan "
    "driver you have (Mesa >= 24 lavapipe, or your GPU's)."
)


def lavapipe_icd(prefix: str | Path | None = None) -> Path:
    """Where the private lavapipe ICD file lives for the virtualenv at ``prefix`` (``sys.prefix``)."""
    return Path(prefix or sys.prefix) / LAVAPIPE_ICD


def prepare_vulkan() -> str | None:
    """Point SAPIEN at a Vulkan driver and keep ManiSkill from prompting; return the ICD used.

    Sets ``MS_SKIP_ASSET_DOWNLOAD_PROMPT`` (a missing asset must never wait on stdin) and,
    unless the user already chose one, ``VK_ICD_FILENAMES`` to the private lavapipe.
    Child processes (env workers) inherit both.
    """
    os.environ.setdefault("MS_SKIP_ASSET_DOWNLOAD_PROMPT", "1")
    # SAPIEN warns when it falls back to its own Vulkan loader, which is what we want.
    warnings.filterwarnings("ignore", message="Failed to find system libvulkan")
    if os.environ.get(ICD_ENV):
        return os.environ[ICD_ENV]
    icd = lavapipe_icd()
    if icd.is_file():
        os.environ[ICD_ENV] = str(icd)
        return str(icd)
    return None


def explain_vulkan_error(err: BaseException) -> BaseException:
    """A clear error for a missing Vulkan driver; other errors are returned unchanged."""
    text = str(err).lower()
    if "rendering device" in text or "vulkan" in text or "vk_" in text:
        used = os.environ.get(ICD_ENV) or "the system's drivers"
        return RuntimeError(f"ManiSkill could not start Vulkan ({err}; driver tried: {used}). {INSTALL_HINT}")
    return err


def vulkan_driver_available() -> bool:
    """Whether a Vulkan ICD is configured or installed (the private lavapipe, or a system one)."""
    if prepare_vulkan():
        return True
    system = [Path("/usr/share/vulkan/icd.d"), Path("/etc/vulkan/icd.d")]
    return any(d.is_dir() and any(d.glob("*.json")) for d in system)
