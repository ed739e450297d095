"""LIBERO (libero 0.1.1 on robosuite 1.4 / MuJoCo): the five suites behind the env contract.

Registered as ``LIBERO-<suite>-v0`` (task by ``task_id=``) and ``LIBERO-<suite>-task<k>-v0`` for
``spatial``, ``object``, ``goal``, ``10`` and ``90``; evaluation suites ``libero-<suite>`` run
the published protocol (50 trials per task from the shipped init states). Importing this
package never imports LIBERO: the simulator loads on an env's first reset.
"""

from embodied_rl.envs.libero.tasks import (
    MAX_EPISODE_STEPS,
    NUM_INIT_STATES,
    SETTLE_STEPS,
    SUITES,
    TASKS,
    LiberoTask,
    env_name,
    get_task,
    suite_tasks,
)

__all__ = [
    "MAX_EPISODE_STEPS",
    "NUM_INIT_STATES",
    "SETTLE_STEPS",
    "SUITES",
    "TASKS",
    "LiberoTask",
    "env_name",
    "get_task",
    "suite_tasks",
]
