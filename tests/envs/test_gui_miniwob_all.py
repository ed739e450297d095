"""Every offline MiniWoB++ task starts, shows its page and takes an action through GuiEnv (one browser)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from embodied_rl.envs.gui.miniwob_tasks import MINIWOB_TASKS, task_size

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.skipif(
    shutil.which("chromedriver") is None and shutil.which("chromium") is None,
    reason="needs chromium and chromedriver (make system-deps)",
)
def test_every_task_resets_and_steps_in_one_browser() -> None:
    from embodied_rl.envs.gui.env import GuiEnv

    env = GuiEnv(backend="miniwob", tasks=list(MINIWOB_TASKS), screen_size=(160, 210), show_grammar=False)
    failures = []
    try:
        for task in MINIWOB_TASKS:
            obs, info = env.reset(seed=0, options={"task": task})
            width, height = task_size(task)
            if info["task"] != task or not obs["instruction"] or obs["screen"].shape != (210, 160, 3):
                failures.append(f"{task}: bad observation")
                continue
            if not np.asarray(obs["screen"]).std() > 0:
                failures.append(f"{task}: blank screenshot")
            _, _, _, _, step_info = env.step("click(5, 205)")
            if not step_info["action_valid"]:
                failures.append(f"{task}: {step_info['error']}")
            assert width > 0 and height > 0
    finally:
        env.close()
    assert not failures, failures
