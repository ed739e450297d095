"""Evaluation suites with LIBERO's published protocol: every task of a suite, 50 trials per task,
trial ``k`` from the task's shipped init state ``k`` (seed ``k``; ``LiberoEnv`` maps seed -> init
state), the suite's step budget, 10 settle steps after each reset.

``libero-<suite>`` uses cameras at 128 px (what VLA policies read); ``libero-<suite>-state`` is
the same protocol without cameras, for state policies and scripted baselines (no rendering
except for the recorded videos).
"""

from __future__ import annotations

from embodied_rl.envs.libero.tasks import NUM_INIT_STATES, SHORT_NAMES, SUITES, env_name, suite_tasks

from embodied_rl.evaluation.suites import Suite, SuiteTask


def suite_name(suite: str, obs_mode: str = "rgb") -> str:
    """``libero-spatial`` / ``libero-spatial-state``."""
    return f"libero-{SHORT_NAMES[suite]}" + ("-state" if obs_mode == "state" else "")


def make_suite(suite: str, obs_mode: str = "rgb") -> Suite:
    """The published protocol on ``suite`` (see the module docstring)."""
    tasks = suite_tasks(suite)
    extra = {} if obs_mode == "rgb" else {"obs_mode": obs_mode}
    what = "agentview + wrist cameras at 128 px" if obs_mode == "rgb" else "state only, no cameras"
    return Suite(
        name=suite_name(suite, obs_mode),
        tasks=tuple(SuiteTask(t.name, env_name(suite), {"task_id": t.task_id, **extra}) for t in tasks),
        episodes=NUM_INIT_STATES,
        seed=0,
        init_states=True,
        description=(
            f"LIBERO {suite} ({len(tasks)} tasks, {what}): {NUM_INIT_STATES} trials per task from the "
            "shipped init states 0..49, the published protocol"
        ),
    )


def register_suites() -> None:
    """Register ``libero-<suite>`` and ``libero-<suite>-state`` for the five suites (lazily built)."""
    from embodied_rl.evaluation.suites import SUITES as REGISTRY

    for suite in SUITES:
        for obs_mode in ("rgb", "state"):
            name = suite_name(suite, obs_mode)
            if name not in REGISTRY:
                REGISTRY.register(
                    name,
                    lambda suite=suite, obs_mode=obs_mode: make_suite(suite, obs_mode),
                    description=f"LIBERO {suite}, published protocol"
                    + (" (state only)" if obs_mode == "state" else ""),
                )
