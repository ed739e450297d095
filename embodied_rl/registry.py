"""One registry mechanism for envs, policies and algorithms.

Entries are registered either by decorating the object (``@REG.register("name")``)
or lazily by a ``"module:attribute"`` string (Gymnasium's entry-point convention),
so listing what exists never imports a heavy simulator or model family::

    POLICIES = Registry("policy")
    POLICIES.register("mlp", "embodied_rl.policies.mlp.policy:MLPPolicy")

    @POLICIES.register("my_policy", description="...")
    class MyPolicy(Policy): ...

    POLICIES.get("mlp")  # imports the module, returns the class
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate name, or an entry point that cannot be imported."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


@dataclass
class Entry:
    """One registered name.

    Attributes:
        name: The public name users write in configs (``"CartPole-v1"``).
        entry_point: The object, or a lazy ``"module:attribute"`` string.
        metadata: Free-form facts shown by the CLI (family, description, ...).
    """

    name: str
    entry_point: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_loaded(self) -> bool:
        return not isinstance(self.entry_point, str)


def load_entry_point(entry_point: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, sep, attr_path = entry_point.partition(":")
    if not sep or not module_name or not attr_path:
        raise RegistryError(f"entry point {entry_point!r} is not of the form 'module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A named collection of entries of one kind (``env``, ``policy``, ``algorithm``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self, name: str, entry_point: T | str | None = None, *, override: bool = False, **metadata: Any
    ) -> Callable[[T], T]:
        """Register ``name``; returns a decorator when ``entry_point`` is omitted.

        Args:
            name: Public name; must be unique unless ``override`` is set.
            entry_point: The object or a lazy ``"module:attribute"`` string.
            override: Replace an existing entry instead of raising.
            **metadata: Facts shown by ``embodied-rl envs|policies`` (e.g. description).
        """

        def add(obj: T | str) -> Any:
            if name in self._entries and not override:
                raise RegistryError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, obj, dict(metadata))
            return obj

        if entry_point is not None:
            add(entry_point)
            return lambda obj: obj
        return add

    def entry(self, name: str) -> Entry:
        """The entry for ``name``, or a :class:`RegistryError` suggesting close names."""
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{hint} Registered {self.kind} names: {known}"
            ) from None

    def get(self, name: str) -> T:
        """The registered object, importing a lazy entry point on first use."""
        entry = self.entry(name)
        if not entry.is_loaded:
            try:
                entry.entry_point = load_entry_point(entry.entry_point)
            except ImportError as err:
                raise RegistryError(
                    f"{self.kind} {name!r} needs a package that is not installed ({err}). "
                    f"{entry.metadata.get('install', '')}".rstrip()
                ) from err
        return entry.entry_point

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)
