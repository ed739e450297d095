"""The GUI envs' scripted expert as a batch policy ``(obs, rng) -> list[str]`` (for SFT data).

Each row reads what a model reads: the page name and instruction, the element list of ``text``
(:func:`~embodied_rl.envs.gui.env.parse_listing`) and the previous actions it repeats; the
task's expert (:data:`~embodied_rl.envs.gui.experts.GUI_EXPERTS`) picks the action. The env
must be made with ``dom=True`` and ``history`` at least as long as the experts' episodes.
Each action ends with a newline: the stop string a text agent learns to end its turn with.

With ``clicks="refs"`` every click on a listed element is written ``click_element(ref)``
instead of ``click(x, y)`` at its center: the same action for the env, but a model copies one
small number from the element's line instead of two coordinates (the harder skill for a small
model, see docs/results/gui_miniwob/README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from embodied_rl.envs.core import Obs
from embodied_rl.envs.gui.base import Element
from embodied_rl.envs.gui.env import parse_listing

__all__ = ["CLICK_STYLES", "as_ref_click", "gui_expert", "previous_actions"]

CLICK_STYLES = ("coords", "refs")

HISTORY_PREFIX = "Previous actions: "
PAGE_PREFIX = "Page: "


def previous_actions(text: str) -> list[str]:
    """The actions a ``text`` observation lists as taken before (``[]`` for ``none``)."""
    for line in reversed(text.splitlines()):
        if line.startswith(HISTORY_PREFIX):
            body = line[len(HISTORY_PREFIX) :]
            return [] if body == "none" else body.split("; ")
    return []


def as_ref_click(action: str, elements: list[Element]) -> str:
    """``click(x, y)`` at a listed element's center -> ``click_element(ref)``; other actions as they are."""
    from embodied_rl.envs.gui.experts import click

    for el in elements:
        if action.strip() == click(el):
            return f"click_element({el.ref})"
    return action


def gui_expert(noise: float = 0.0, clicks: str = "coords", **env_kwargs: Any):
    """``(obs, rng) -> list[str]``: each row's task expert; with prob. ``noise`` a random click.

    Args:
        noise: Probability of a random ``click(x, y)`` instead of the expert's action.
        clicks: ``coords`` (``click(x, y)`` at the element's center) or ``refs``
            (``click_element(ref)``).
        env_kwargs: The env's kwargs (``dom``, ``screen_size``, ``coords``).

    Raises:
        ValueError: the env hides the element list (``dom=False``), a task has no expert, or an
            unknown ``clicks``.
    """
    from embodied_rl.envs.gui.experts import expert_for_task

    if clicks not in CLICK_STYLES:
        raise ValueError(f"clicks must be one of {CLICK_STYLES}, got {clicks!r}")
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
            elements = parse_listing(text)
            action = expert(instruction, elements, previous_actions(text)).rstrip("\n")
            if clicks == "refs":
                action = as_ref_click(action, elements)
            actions.append(action + "\n")
        return actions

    return act


def _task_of(text: str, instruction: str) -> str | None:
    """The task's page name from the ``Page:`` line of a ``text`` observation."""
    for line in text.splitlines():
        if line.startswith(PAGE_PREFIX):
            return line[len(PAGE_PREFIX) :].strip()
    return None
