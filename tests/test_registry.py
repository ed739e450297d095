"""Tests for embodied_rl.registry: eager and lazy entries, errors and suggestions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from embodied_rl.registry import Entry, Registry, RegistryError, load_entry_point


class Thing:
    pass


class OtherThing:
    pass


@pytest.fixture
def lazy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A throwaway importable module that counts how often it was imported."""
    name = "_embodied_rl_lazy_probe"
    (tmp_path / f"{name}.py").write_text(
        "import builtins\n"
        "builtins._embodied_rl_lazy_imports = getattr(builtins, '_embodied_rl_lazy_imports', 0) + 1\n"
        "class Loaded:\n"
        "    class Inner:\n"
        "        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    import builtins

    monkeypatch.setattr(builtins, "_embodied_rl_lazy_imports", 0, raising=False)
    yield name
    sys.modules.pop(name, None)


def test_register_object_directly_and_as_decorator() -> None:
    reg: Registry = Registry("widget")
    reg.register("thing", Thing, description="a thing")

    @reg.register("other", family="demo")
    class Decorated:
        pass

    assert reg.get("thing") is Thing
    assert reg.get("other") is Decorated  # the decorator returns the class unchanged
    assert reg.entry("thing").is_loaded
    assert reg.entry("thing").metadata == {"description": "a thing"}
    assert reg.entry("other").metadata == {"family": "demo"}
    assert reg.names() == ["other", "thing"]
    assert "thing" in reg and "nope" not in reg
    assert len(reg) == 2
    assert [e.name for e in reg] == ["other", "thing"]
    assert all(isinstance(e, Entry) for e in reg)


def test_lazy_entry_imports_only_on_get(lazy_module: str) -> None:
    import builtins

    reg: Registry = Registry("widget")
    reg.register("lazy", f"{lazy_module}:Loaded")
    reg.register("nested", f"{lazy_module}:Loaded.Inner")

    # Registering, listing, membership and entry lookup never import.
    assert reg.names() == ["lazy", "nested"]
    assert "lazy" in reg
    entry = reg.entry("lazy")
    assert not entry.is_loaded
    assert entry.entry_point == f"{lazy_module}:Loaded"
    assert lazy_module not in sys.modules
    assert builtins._embodied_rl_lazy_imports == 0

    loaded = reg.get("lazy")
    assert lazy_module in sys.modules
    assert loaded.__name__ == "Loaded"
    assert loaded is sys.modules[lazy_module].Loaded
    assert reg.entry("lazy").is_loaded  # cached: the entry now holds the object
    assert reg.get("lazy") is loaded
    assert reg.get("nested") is loaded.Inner  # dotted attribute paths are followed
    assert builtins._embodied_rl_lazy_imports == 1


def test_duplicate_name_raises() -> None:
    reg: Registry = Registry("widget")
    reg.register("thing", Thing)
    with pytest.raises(RegistryError, match="widget 'thing' is already registered"):
        reg.register("thing", OtherThing)
    with pytest.raises(RegistryError, match="already registered"):

        @reg.register("thing")
        class Again:
            pass

    assert reg.get("thing") is Thing  # the failed registration changed nothing


def test_override_replaces_entry() -> None:
    reg: Registry = Registry("widget")
    reg.register("thing", Thing, description="old")
    reg.register("thing", OtherThing, override=True, description="new")
    assert reg.get("thing") is OtherThing
    assert reg.entry("thing").metadata == {"description": "new"}
    assert len(reg) == 1


def test_unknown_name_suggests_close_matches() -> None:
    reg: Registry = Registry("env")
    for name in ("CartPole-v1", "Acrobot-v1", "Pendulum-v1"):
        reg.register(name, Thing)
    with pytest.raises(RegistryError) as info:
        reg.get("CartPol-v1")
    msg = str(info.value)
    assert "unknown env 'CartPol-v1'" in msg
    assert "Did you mean 'CartPole-v1'" in msg
    assert "Registered env names: Acrobot-v1, CartPole-v1, Pendulum-v1" in msg
    assert isinstance(info.value, KeyError)  # RegistryError stays a KeyError
    assert not msg.startswith('"')  # readable, not KeyError's quoted repr

    with pytest.raises(RegistryError) as info:
        reg.entry("zzzzzzzz")
    assert "Did you mean" not in str(info.value)  # nothing close: no suggestion


def test_unknown_name_in_empty_registry() -> None:
    with pytest.raises(RegistryError, match=r"unknown policy 'mlp'\. Registered .*: \(none\)$"):
        Registry("policy").get("mlp")


@pytest.mark.parametrize("bad", ["no_colon_here", "module:", ":attr", ""])
def test_bad_entry_point_string(bad: str) -> None:
    with pytest.raises(RegistryError, match="not of the form 'module:attribute'"):
        load_entry_point(bad)
    reg: Registry = Registry("widget")
    reg.register("bad", bad)
    with pytest.raises(RegistryError, match="not of the form 'module:attribute'"):
        reg.get("bad")


def test_import_error_becomes_registry_error_with_install_hint() -> None:
    reg: Registry = Registry("env")
    reg.register(
        "Heavy-v0",
        "embodied_rl_no_such_simulator.envs:HeavyEnv",
        install="Install it with: pip install 'embodied-rl[heavy]'",
    )
    with pytest.raises(RegistryError) as info:
        reg.get("Heavy-v0")
    msg = str(info.value)
    assert "env 'Heavy-v0' needs a package that is not installed" in msg
    assert "embodied_rl_no_such_simulator" in msg  # the original ImportError is named
    assert msg.endswith("Install it with: pip install 'embodied-rl[heavy]'")
    assert isinstance(info.value.__cause__, ImportError)
    assert not reg.entry("Heavy-v0").is_loaded  # still lazy; a later install can succeed


def test_import_error_without_install_hint_has_no_trailing_space() -> None:
    reg: Registry = Registry("env")
    reg.register("Heavy-v0", "embodied_rl_no_such_simulator:HeavyEnv")
    with pytest.raises(RegistryError) as info:
        reg.get("Heavy-v0")
    assert str(info.value).endswith(")."), str(info.value)


def test_library_registries_list_without_importing_heavy_modules() -> None:
    """Listing envs and policies imports neither a simulator nor a policy module."""
    code = (
        "import sys\n"
        "from embodied_rl.envs import ENVS\n"
        "from embodied_rl.policies import POLICIES\n"
        "from embodied_rl.algorithms import ALGORITHMS\n"
        "assert 'HalfCheetah-v5' in ENVS.names() and 'cnn' in POLICIES.names()\n"
        "assert {'ppo', 'grpo'} <= set(ALGORITHMS.names())\n"
        "assert all('pip install' in e.metadata['install'] for e in ENVS\n"
        "           if e.metadata.get('family') == 'gymnasium/mujoco')\n"
        "heavy = [m for m in ('mujoco', 'embodied_rl.policies.mlp.policy', 'embodied_rl.trainers.ppo')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
