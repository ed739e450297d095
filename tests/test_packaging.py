"""Packaging guards: every package is listed in pyproject.toml, and the torch pin holds."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# source folder -> installed package name (pyproject's [tool.setuptools.package-dir])
ROOTS = {"embodied_rl": "embodied_rl", "envs": "embodied_rl.envs", "policies": "embodied_rl.policies"}


def _packages_on_disk() -> dict[str, Path]:
    found = {}
    for folder, package in ROOTS.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            if "__pycache__" in rel.parts:
                continue
            found[".".join([package, *rel.parts])] = init.parent
    return found


def test_package_dir_mapping() -> None:
    package_dir = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert package_dir == {package: folder for folder, package in ROOTS.items()}


def test_every_package_folder_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = _packages_on_disk()
    assert {"embodied_rl", "embodied_rl.envs", "embodied_rl.policies"} <= set(on_disk)
    missing = sorted(set(on_disk) - listed)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_listed_package_exists() -> None:
    listed = PYPROJECT["tool"]["setuptools"]["packages"]
    assert len(listed) == len(set(listed)), "duplicate entries in packages"
    on_disk = _packages_on_disk()
    stale = sorted(set(listed) - set(on_disk))
    assert not stale, f"listed in pyproject.toml but no folder with __init__.py: {stale}"


@pytest.mark.parametrize("package", sorted(_packages_on_disk()))
def test_listed_packages_import_from_the_source_tree(package: str) -> None:
    module = importlib.import_module(package)
    assert Path(module.__file__).resolve().parent == _packages_on_disk()[package].resolve()


def test_console_script_entry_point() -> None:
    assert PYPROJECT["project"]["scripts"] == {"embodied-rl": "embodied_rl.cli:main"}


def test_torchvision_stays_out() -> None:
    assert importlib.util.find_spec("torchvision") is None
    deps = PYPROJECT["project"]["dependencies"]
    for extra in PYPROJECT["project"].get("optional-dependencies", {}).values():
        deps = deps + extra
    assert not [d for d in deps if d.lower().startswith("torchvision")]


def test_torch_is_the_pinned_version() -> None:
    import torch

    assert torch.__version__.startswith("2.13.0"), torch.__version__
