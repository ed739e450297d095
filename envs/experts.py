"""Scripted experts: hand-written policies that solve an env, for SFT data and wiring checks.

An expert is a callable ``(obs, rng) -> actions`` over a contract batch (torch obs in,
actions the env accepts out). ``EXPERTS`` maps an env name to an expert factory
``(noise=0.0, **env_kwargs) -> expert``; :func:`expert_for` calls it with the env's
registered kwargs merged with the user's, so one factory serves a whole family.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from embodied_rl.envs.core import Obs

from embodied_rl.registry import Registry

EXPERTS: Registry[Any] = Registry("expert")
"""env name -> expert factory ``(noise: float = 0.0, **env_kwargs) -> (obs, rng) -> actions``."""


def expert_options_error(env_name: str, expert_kwargs: dict[str, Any] | None) -> str | None:
    """Why ``expert_kwargs`` do not fit the expert of ``env_name`` (options it does not name), or None."""
    factory = EXPERTS.get(env_name)
    named = {
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "noise"
    }
    unknown = sorted(set(expert_kwargs or {}) - named)
    if not unknown:
        return None
    return f"the expert of {env_name} has no option(s) {unknown}; its options: {sorted(named) or 'none'}"


def expert_for(
    env_name: str,
    noise: float = 0.0,
    env_kwargs: dict[str, Any] | None = None,
    expert_kwargs: dict[str, Any] | None = None,
) -> Any:
    """The scripted expert of ``env_name`` for an env made with ``env_kwargs`` (registered defaults first).

    ``expert_kwargs`` are the expert's own options (e.g. ``clicks="refs"`` for the GUI experts);
    one the expert factory does not name is an error (:func:`expert_options_error`), not silently
    ignored.
    """
    from embodied_rl.envs import ENVS

    error = expert_options_error(env_name, expert_kwargs)
    if error:
        raise ValueError(error)
    bound = ENVS.entry(env_name).metadata.get("kwargs", {}) if env_name in ENVS else {}
    return EXPERTS.get(env_name)(noise, **{**bound, **(env_kwargs or {})}, **(expert_kwargs or {}))


def _point_reach(noise: float = 0.0, **env_kwargs: Any):
    from embodied_rl.envs.toy import point_reach_expert

    def act(obs: Obs, rng: np.random.Generator) -> torch.Tensor:
        return torch.as_tensor(point_reach_expert(obs["state"].cpu().numpy(), noise, rng))

    return act


EXPERTS.register("PointReach-v0", _point_reach, description="head straight for the named target")

for _name in ("ToolArithmetic-v0", "ToolCountdown-v0", "ToolSearchQA-v0", "ToolZoomCount-v0"):
    EXPERTS.register(
        _name,
        "embodied_rl.envs.tools.experts:tool_expert",
        description="the task source's scripted expert: call the right tool, then answer",
    )

from embodied_rl.envs.gui.miniwob_tasks import GUI_EXPERT_TASKS  # noqa: E402

for _name in ("GuiSynthetic-v0", "MiniWoB-v1", *(f"MiniWoB-{t}-v1" for t in GUI_EXPERT_TASKS)):
    EXPERTS.register(
        _name,
        "embodied_rl.envs.gui.expert_policy:gui_expert",
        description="the page's scripted expert acting from the instruction and the element list",
    )

EXPERTS.register(
    "ManiSkill-PushCube-v1",
    "embodied_rl.envs.maniskill.experts:push_cube_expert",
    description="get behind the cube, push it along +x onto the goal (end-effector control, privileged state)",
)
EXPERTS.register(
    "ManiSkill-PickCube-v1",
    "embodied_rl.envs.maniskill.experts:pick_cube_expert",
    description="align, descend, grasp, carry the cube to the goal (end-effector control, privileged state)",
)
