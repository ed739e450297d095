"""Scripted experts: hand-written policies that solve an env, for SFT data and wiring checks.

An expert is a callable ``(obs, rng) -> actions`` over a contract batch (torch obs in,
actions the env accepts out). ``EXPERTS`` maps an env name to its expert; the GUI and
tool families register theirs next to their envs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from embodied_rl.envs.core import Obs

from embodied_rl.registry import Registry

EXPERTS: Registry[Any] = Registry("expert")
"""env name -> expert factory ``(noise: float) -> (obs, rng) -> actions``."""


def _point_reach(noise: float = 0.0):
    from embodied_rl.envs.toy import point_reach_expert

    def act(obs: Obs, rng: np.random.Generator) -> torch.Tensor:
        return torch.as_tensor(point_reach_expert(obs["state"].cpu().numpy(), noise, rng))

    return act


EXPERTS.register("PointReach-v0", _point_reach, description="head straight for the named target")
