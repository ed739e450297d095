"""Helpers of the scheduler tests: a small policy, and an env factory that crashes, hangs or raises once."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.policies import Policy, build_policy
from embodied_rl.policies.mlp.policy import MLPPolicyConfig

from embodied_rl.scheduler.worker import StageEnvFactory


def small_policy(env_name: str, value_head: bool = True) -> Policy:
    """A seeded 2x32 MLP policy for ``env_name``."""
    env = make(env_name, num_envs=1)
    torch.manual_seed(0)
    policy = build_policy(MLPPolicyConfig(hidden_sizes=[32, 32], value_head=value_head), env_spec(env))
    env.close()
    return policy


class FaultInjector(gym.vector.VectorWrapper):
    """Fails at step ``at_step`` of this process, unless ``once_file`` exists (then creates it)."""

    def __init__(self, env: gym.vector.VectorEnv, mode: str, at_step: int, once_file: str) -> None:
        super().__init__(env)
        self.mode, self.at_step, self.once_file = mode, at_step, Path(once_file)
        self.steps = 0

    def step(self, actions: Any) -> Any:
        self.steps += 1
        if self.steps == self.at_step and not self.once_file.exists():
            self.once_file.touch()
            if self.mode == "crash":
                os._exit(3)
            if self.mode == "hang":
                time.sleep(3600)
            raise RuntimeError("injected simulator failure")
        return self.env.step(actions)


@dataclass(frozen=True)
class FaultyFactory:
    mode: str
    at_step: int
    once_file: str
    num_envs: int = 2
    env_name: str = "CartPole-v1"

    def __call__(self) -> gym.vector.VectorEnv:
        env = StageEnvFactory(self.env_name, self.num_envs)()
        return FaultInjector(env, self.mode, self.at_step, self.once_file)
