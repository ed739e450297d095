"""Named evaluation suites: a list of tasks and the protocol they are evaluated under.

A suite fixes what a published number means: which tasks, how many episodes per task,
and which episode starts from which state. Episode ``k`` of every task is reset with
seed ``suite.seed + k``; suites whose simulator ships fixed initial states (LIBERO's
init-state files) map that seed to init state ``k`` inside the env, so the seed *is*
the init-state index and the protocol is exactly the published one.

Families register their suites next to their envs::

    SUITES.register("libero-spatial", "embodied_rl.envs.libero:spatial_suite")  # lazy

An entry is a :class:`Suite` or a zero-argument callable returning one (so listing
suites never imports a simulator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embodied_rl.registry import Registry

SUITES: Registry[Any] = Registry("suite")
"""suite name -> :class:`Suite` or a zero-argument factory returning one."""


@dataclass(frozen=True)
class SuiteTask:
    """One task: a registered env with fixed keyword arguments.

    Attributes:
        name: Task name shown in tables (unique within the suite).
        env: Registered env name.
        kwargs: Keyword arguments for ``embodied_rl.envs.make``.
    """

    name: str
    env: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """Tasks plus their evaluation protocol.

    Attributes:
        name: Suite name.
        tasks: The tasks, in report order.
        episodes: Episodes per task the protocol asks for.
        seed: Seed of episode 0 (init-state index 0 for init-state suites).
        init_states: True when the env maps seed ``k`` to the task's shipped init state ``k``.
        description: One line for listings.
    """

    name: str
    tasks: tuple[SuiteTask, ...]
    episodes: int = 50
    seed: int = 0
    init_states: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        names = [t.name for t in self.tasks]
        if not names:
            raise ValueError(f"suite '{self.name}' has no tasks")
        if len(set(names)) != len(names):
            raise ValueError(f"suite '{self.name}' has duplicate task names: {names}")

    def protocol(self, episodes: int, seed: int) -> str:
        """The sentence reports print about which episodes ran."""
        return protocol_text(episodes, seed, self.init_states)

    def select(self, names: list[str]) -> tuple[SuiteTask, ...]:
        """The tasks called ``names`` (an unknown name is an error listing the known ones)."""
        known = {t.name: t for t in self.tasks}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"suite '{self.name}' has no task(s) {unknown}; its tasks: {list(known)}")
        return tuple(known[n] for n in names)


def protocol_text(episodes: int, seed: int, init_states: bool = False) -> str:
    """``"episode k of each task starts from seed 10000 + k, k = 0..9"`` (or init state ``k``)."""
    start = "the task's shipped init state" if init_states else "seed"
    return f"episode k of each task starts from {start} {seed} + k, k = 0..{episodes - 1}"


def get_suite(name: str) -> Suite:
    """The suite registered as ``name`` (unknown names raise with suggestions)."""
    entry = SUITES.get(name)
    suite = entry() if callable(entry) else entry
    if not isinstance(suite, Suite):
        raise TypeError(f"suite entry '{name}' gave {type(suite).__name__}, not a Suite")
    return suite


SUITES.register(
    "point-reach",
    Suite(
        name="point-reach",
        tasks=(
            SuiteTask("reach-red", "PointReach-v0", {"target": "red"}),
            SuiteTask("reach-blue", "PointReach-v0", {"target": "blue"}),
        ),
        episodes=50,
        seed=10_000,
        description="PointReach-v0 with the instruction fixed to each colour (2 tasks, 50 episodes each).",
    ),
    description="PointReach-v0, one task per instructed colour",
)


# Env families register their suites (MiniWoB, LIBERO, ...) when embodied_rl.envs is imported;
# import it here so `embodied-rl suites` and get_suite() see them (no simulator is imported).
import embodied_rl.envs  # noqa: E402, F401
