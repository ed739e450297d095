"""Environments behind one contract: ``embodied_rl.envs.make(name, num_envs=N)``.

Registered names are listed by ``embodied-rl envs``. Any other id in Gymnasium's own
registry also works through the Gymnasium adapter.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from embodied_rl.envs.core import (
    AUTORESET_MODE,
    OBS_KEYS,
    EnvSpec,
    Obs,
    check_vector_env,
    group_seeds,
)
from embodied_rl.envs.gui.miniwob_tasks import MINIWOB_TASKS
from embodied_rl.envs.maniskill.tasks import OFFLINE_TASKS as MANISKILL_OFFLINE
from embodied_rl.envs.maniskill.tasks import UNAVAILABLE_TASKS as MANISKILL_UNAVAILABLE

from embodied_rl.registry import Registry, RegistryError

ENVS: Registry[Any] = Registry("env")
"""name -> factory ``(num_envs, **kwargs) -> VectorEnv``; metadata ``kwargs`` are bound defaults."""

_GYM_FACTORY = "embodied_rl.envs.gymnasium_adapter:make_gymnasium_env"
# MuJoCo tasks: the adapter plus camera observations (obs_mode="rgb" | "state+rgb").
_MUJOCO_FACTORY = "embodied_rl.envs.mujoco:make_mujoco_env"

_CLASSIC_CONTROL = {
    "CartPole-v1": "Balance a pole on a cart (discrete push left/right).",
    "Acrobot-v1": "Swing a two-link arm above a line (discrete torques).",
    "MountainCar-v0": "Drive an underpowered car up a hill (discrete).",
    "MountainCarContinuous-v0": "Drive an underpowered car up a hill (continuous).",
    "Pendulum-v1": "Swing a pendulum up and hold it (continuous torque).",
}
_MUJOCO = {
    "HalfCheetah-v5": "Run forward with a planar cheetah.",
    "Hopper-v5": "Hop forward on one leg without falling.",
    "Walker2d-v5": "Walk forward on two legs.",
    "Ant-v5": "Walk forward with a four-legged ant.",
    "Swimmer-v5": "Swim forward in viscous fluid.",
    "Reacher-v5": "Move a two-link arm's tip to a target.",
    "Pusher-v5": "Push an object to a goal with a 7-DoF arm.",
    "InvertedPendulum-v5": "Balance a pole on a cart (continuous).",
    "InvertedDoublePendulum-v5": "Balance a double pole on a cart.",
}


def register_gymnasium(
    name: str, gym_id: str | None = None, factory: str = _GYM_FACTORY, **metadata: Any
) -> None:
    """Register a Gymnasium id under ``name`` through the adapter (or a family's ``factory``)."""
    kwargs = {"gym_id": gym_id or name, "name": name, "family": metadata.get("family", "gymnasium")}
    ENVS.register(name, factory, kwargs=kwargs, **metadata)


for _id, _doc in _CLASSIC_CONTROL.items():
    register_gymnasium(_id, family="gymnasium/classic_control", description=_doc)
for _id, _doc in _MUJOCO.items():
    register_gymnasium(
        _id,
        factory=_MUJOCO_FACTORY,
        family="gymnasium/mujoco",
        description=_doc,
        requires="mujoco",
        install="Install it with: pip install 'embodied-rl[mujoco]'",
    )

# Built-in toy envs live in Gymnasium's registry (lazy entry point) and ours.
gym.register(
    "embodied_rl/GridGoalPixels-v0", entry_point="embodied_rl.envs.toy:GridGoalPixels", max_episode_steps=16
)
register_gymnasium(
    "GridGoalPixels-v0",
    gym_id="embodied_rl/GridGoalPixels-v0",
    family="toy",
    description="Reach a goal on a 4x4 grid seen as 16x16 RGB pixels (tests the cnn policy).",
)
gym.register("embodied_rl/PointReach-v0", entry_point="embodied_rl.envs.toy:PointReach", max_episode_steps=30)
register_gymnasium(
    "PointReach-v0",
    gym_id="embodied_rl/PointReach-v0",
    family="toy",
    description="Move a point to the target the instruction names (continuous, language; image_size=N adds pixels).",
)
gym.register(
    "embodied_rl/SyntheticCompute-v0",
    entry_point="embodied_rl.envs.toy:SyntheticCompute",
    max_episode_steps=50,
)
register_gymnasium(
    "SyntheticCompute-v0",
    gym_id="embodied_rl/SyntheticCompute-v0",
    family="toy",
    description="Burns work=N rounds of a 128x128 matvec per step (the pipeline benchmark's simulator).",
)


# Tool environments (envs/tools): multi-turn tool use, text actions, verifiable answers.
gym.register("embodied_rl/ToolEnv-v0", entry_point="embodied_rl.envs.tools.env:ToolEnv")
_TOOL_FACTORY = "embodied_rl.envs.tools.env:make_tool_env"
_TOOL_ENVS = {
    "ToolArithmetic-v0": (
        {
            "task": "reasoning_gym",
            "task_kwargs": {"dataset": "basic_arithmetic", "min_terms": 2, "max_terms": 3, "max_digits": 3},
        },
        "Arithmetic from reasoning-gym with an exact calculator tool; answer verified exactly.",
        "",
    ),
    "ToolCountdown-v0": (
        {
            "task": "reasoning_gym",
            "task_kwargs": {"dataset": "countdown", "min_numbers": 3, "max_numbers": 4},
        },
        "Countdown from reasoning-gym with a sandboxed Python tool (and the calculator).",
        "bwrap",
    ),
    "ToolSearchQA-v0": (
        {"task": "knowledge_qa"},
        "Questions about a shipped fictional corpus; BM25 search tool.",
        "",
    ),
    "ToolZoomCount-v0": (
        {"task": "zoom_count"},
        "Count small dots in a box of a large image seen shrunk; crop/zoom image tools.",
        "",
    ),
}
for _name, (_kwargs, _doc, _binary) in _TOOL_ENVS.items():
    ENVS.register(
        _name,
        _TOOL_FACTORY,
        kwargs={"name": _name, **_kwargs},
        family="tools",
        description=_doc,
        **(
            {"requires_binary": _binary, "install": "Install bubblewrap: apt-get install bubblewrap"}
            if _binary
            else {}
        ),
    )


# GUI environments (envs/gui): screenshots + instruction (+ element list), one text action per step.
gym.register("embodied_rl/GuiEnv-v0", entry_point="embodied_rl.envs.gui.env:GuiEnv")
_GUI_FACTORY = "embodied_rl.envs.gui.env:make_gui_env"
# The MiniWoB tasks the synthetic env mirrors (scripted experts for all of them): MiniWoB-v1's
# default mix, and the ones the per-env contract tests run in a browser.
GUI_CORE_TASKS = ("click-test", "click-button", "click-checkboxes", "enter-text", "focus-text", "click-link")
_CHROMIUM = {
    "browser": True,
    "requires_binary": "chromedriver",
    "install": "Install Chromium and its driver: make system-deps (apt-get install chromium chromium-driver)",
}
ENVS.register(
    "GuiSynthetic-v0",
    _GUI_FACTORY,
    kwargs={"name": "GuiSynthetic-v0", "backend": "synthetic", "max_steps": 8, "family": "gui/synthetic"},
    family="gui/synthetic",
    description="Widgets drawn with PIL mirroring MiniWoB tasks (no browser, ms steps); tasks=[...] picks them.",
)
ENVS.register(
    "MiniWoB-v1",
    _GUI_FACTORY,
    kwargs={
        "name": "MiniWoB-v1",
        "backend": "miniwob",
        "tasks": list(GUI_CORE_TASKS),
        "max_steps": 8,
        "vectorization": "async",
        "family": "gui/miniwob",
    },
    family="gui/miniwob",
    description="Several MiniWoB++ tasks in Chromium, one drawn per episode from the seed (tasks=[...]).",
    **_CHROMIUM,
)
for _task in MINIWOB_TASKS:
    ENVS.register(
        f"MiniWoB-{_task}-v1",
        _GUI_FACTORY,
        kwargs={
            "name": f"MiniWoB-{_task}-v1",
            "backend": "miniwob",
            "tasks": [_task],
            "max_steps": 8,
            "vectorization": "async",
            "family": "gui/miniwob",
        },
        family="gui/miniwob",
        description=f"MiniWoB++ task {_task!r} (miniwob/{_task}-v1) in a headless Chromium.",
        contract=_task in GUI_CORE_TASKS,
        **_CHROMIUM,
    )

# ManiSkill3 (envs/maniskill): every task that runs offline under ManiSkill-<id>; the ones that need a
# download are registered too, so make() says what is missing instead of downloading.
gym.register("embodied_rl/ManiSkill-v0", entry_point="embodied_rl.envs.maniskill.env:ManiSkillTaskEnv")
_MANISKILL_FACTORY = "embodied_rl.envs.maniskill.env:make_maniskill_env"
_MANISKILL = {
    "requires": "mani_skill",
    "simulator": True,
    "install": "Install it with: pip install 'embodied-rl[maniskill]' (and a Vulkan driver: make vulkan)",
}
for _task, (_steps, _sentence) in MANISKILL_OFFLINE.items():
    ENVS.register(
        f"ManiSkill-{_task}",
        _MANISKILL_FACTORY,
        kwargs={"task": _task},
        family="maniskill",
        description=f"ManiSkill3 {_task}: {_sentence} (max {_steps} steps; CPU or GPU PhysX).",
        contract=False,  # tests/envs/test_maniskill.py runs the contract on every task (in one process)
        **_MANISKILL,
    )
for _task, (_what, _how) in MANISKILL_UNAVAILABLE.items():
    ENVS.register(
        f"ManiSkill-{_task}",
        _MANISKILL_FACTORY,
        kwargs={"task": _task},
        family="maniskill",
        description=f"ManiSkill3 {_task} (unavailable offline: needs {_what})",
        contract=False,
        unavailable=f"needs {_what}; run: {_how}",
        **_MANISKILL,
    )

# Evaluation suites on MiniWoB-v1, one task each, for the GUI learning run: the tasks it has
# demonstrations of (SFT), tasks it meets only in GRPO, and tasks it never sees (neither in the
# browser nor in the synthetic SFT data).
GUI_TRAIN_TASKS = ("click-test", "click-button", "focus-text", "click-link", "enter-text")
GUI_HELDOUT_TASKS = ("click-test-2", "focus-text-2", "click-dialog", "click-tab", "enter-password")
GUI_RL_TASKS = ("click-button-sequence", "click-widget", "click-dialog-2", "click-collapsible")


def _miniwob_suite(name: str, tasks: tuple[str, ...], what: str) -> None:
    from embodied_rl.evaluation.suites import SUITES, Suite, SuiteTask

    SUITES.register(
        name,
        Suite(
            name=name,
            tasks=tuple(SuiteTask(t, "MiniWoB-v1", {"tasks": [t]}) for t in tasks),
            episodes=50,
            seed=10_000,
            description=f"MiniWoB++ in Chromium, {what}: {', '.join(tasks)} (50 seeded episodes each).",
        ),
        description=f"MiniWoB++ {what}",
    )


_miniwob_suite("miniwob-train", GUI_TRAIN_TASKS, "the GUI learning run's training tasks")
_miniwob_suite("miniwob-heldout", GUI_HELDOUT_TASKS, "tasks held out of the GUI learning run")
_miniwob_suite("miniwob-rl", GUI_RL_TASKS, "tasks the GUI learning run meets only in GRPO")


# LIBERO (envs/libero): the five suites on robosuite; the simulator loads on an env's first reset.
# The contract runs on one task per suite in tests/envs/test_libero.py (each env is a 2-3 GB sim).
def _register_libero() -> None:
    from embodied_rl.envs.libero.suites import register_suites
    from embodied_rl.envs.libero.tasks import MAX_EPISODE_STEPS, SUITES, env_name, suite_tasks

    factory = "embodied_rl.envs.libero.env:make_libero_env"
    common = {
        "family": "libero",
        "requires": "libero",
        "install": "Install it with: pip install -c constraints.txt 'embodied-rl[libero]' "
        "&& pip uninstall -y torchvision",
        "contract": False,
    }
    for suite in SUITES:
        tasks = suite_tasks(suite)
        steps = f"max {MAX_EPISODE_STEPS[suite]} steps"
        ENVS.register(
            env_name(suite),
            factory,
            kwargs={"suite": suite, "name": env_name(suite)},
            description=f"LIBERO {suite}: {len(tasks)} tasks, task_id=0..{len(tasks) - 1} "
            f"(0: {tasks[0].language!r}); cameras/state + instruction, 7-D OSC deltas, {steps}.",
            **common,
        )
        for task in tasks:
            name = env_name(suite, task.task_id)
            ENVS.register(
                name,
                factory,
                kwargs={"suite": suite, "task_id": task.task_id, "name": name},
                description=f"LIBERO {suite} task {task.task_id} ({task.name}): {task.language!r}; {steps}.",
                **common,
            )
    register_suites()


_register_libero()


def make(name: str, num_envs: int = 1, **kwargs: Any) -> gym.vector.VectorEnv:
    """Make ``num_envs`` copies of env ``name`` as one contract vector env.

    Args:
        name: A registered name (``embodied-rl envs``) or any Gymnasium id.
        num_envs: Batch size N.
        **kwargs: Family-specific options (for Gymnasium envs: ``vectorization``,
            ``device``, ``max_episode_steps``, ``render_mode``, ``gymnasium.make`` kwargs).

    Raises:
        RegistryError: ``name`` is neither registered nor a Gymnasium id.
    """
    if name in ENVS:
        entry = ENVS.entry(name)
        if entry.metadata.get("unavailable"):
            raise RegistryError(f"env {name!r} is unavailable: {entry.metadata['unavailable']}")
        factory = ENVS.get(name)
        try:
            return factory(num_envs=num_envs, **{**entry.metadata.get("kwargs", {}), **kwargs})
        except (ImportError, gym.error.DependencyNotInstalled) as err:
            raise RegistryError(
                f"env {name!r} cannot be made: {err}. {entry.metadata.get('install', '')}"
            ) from err
    if name in gym.registry:
        from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env

        return make_gymnasium_env(num_envs, gym_id=name, **kwargs)
    ENVS.entry(name)  # raises with close-name suggestions
    raise AssertionError("unreachable")


def env_spec(env: gym.vector.VectorEnv) -> EnvSpec:
    """The :class:`EnvSpec` of a contract env (through any wrappers)."""
    current: Any = env
    while current is not None:
        if "env_spec" in vars(current):
            return current.env_spec
        current = getattr(current, "env", None)
    raise AttributeError(
        f"{type(env).__name__} is not a contract env (no env_spec on it or its wrapped envs)"
    )


__all__ = [
    "AUTORESET_MODE",
    "ENVS",
    "OBS_KEYS",
    "EnvSpec",
    "Obs",
    "check_vector_env",
    "env_spec",
    "group_seeds",
    "make",
    "register_gymnasium",
]
