"""The GUI envs' scripted expert as a batch policy ``(obs, rng) -> list[str]`` (for SFT data).

Each row reads what a model reads: the page name and instruction, the element list of ``text``
(:func:`~embodied_rl.envs.gui.env.parse_listing`) and the previous actions it repeats; the
task's expert (:data:`~embodied_rl.envs.gui.experts.GUI_EXPERTS`) picks the action. The env
must be made with ``dom=True`` and ``history`` at least as long as the experts' episodes.
Each action ends with a newline: the stop string a text agent learns to end its turn with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from embodied_rl.envs.core import Obs
from embodied_rl.envs.gui.env import parse_listing

__all__ = ["gui_expert", "previous_actions"]

HISTORY_PREFIX = "Previous actions: "
PAGE_PREFIX = "Page: "


def previous_actions(text: str) -> list[str]:
    """The actions a ``text`` observation lists as taken before (``[]`` for ``none``)."""
    for line in reversed(text.splitlines()):
        if line.startswith(HISTORY_PREFIX):
            body = line[len(HISTORY_PREFIX) :]
            return [] if body == "none" else body.split("; ")
    return []


def gui_expert(noise: float = 0.0, **env_kwargs: Any):
    """``(obs, rng) -> list[str]``: each row's task expert; with prob. ``noise`` a random click.

    Raises:
        ValueError: the env hides the element list (``dom=False``), or a task has no expert.
    """
    from embodied_rl.envs.gui.experts import expert_for_task

    if not env_kwargs.get("dom", True):
        raise ValueError("the GUI experts read the element list: make the env with dom=True")
    width, height = env_kwargs.get("screen_size") or (160, 210)
    normalized = env_kwargs.get("coords", "pixels") == "normalized"

    def act(obs: Obs, rng: np.random.Generator) -> list[str]:
        actions = []
        for instruction, text in zip(obs["instruction"], obs["text"], strict=True):
            if noise > 0 and rng.random() < noise:
                x, y = rng.random(), rng.random()
                actions.append(
                    f"click({x:.3f}, {y:.3f})\n"
                    if normalized
                    else f"click({int(x * width)}, {int(y * height)})\n"
                )
                continue
            task = _task_of(text, instruction)
            expert = expert_for_task(task) if task else None
            if expert is None:
                raise ValueError(f"no scripted GUI expert for the task of {instruction!r}")
            actions.append(
                expert(instruction, parse_listing(text), previous_actions(text)).rstrip("\n") + "\n"
            )
        return actions

    return act


def _task_of(text: str, instruction: str) -> str | None:
    """The task's page name from the ``Page:`` line of a ``text`` observation."""
    for line in text.splitlines():
        if line.startswith(PAGE_PREFIX):
            return line[len(PAGE_PREFIX) :].strip()
    return None
