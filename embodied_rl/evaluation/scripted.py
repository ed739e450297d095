"""Scripted policies for evaluation: ``scripted:expert`` (the env's expert) and ``scripted:random``.

They give the reference points a results table needs: what a hand-written solution
reaches (the ceiling the expert defines) and what chance reaches (the floor).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from embodied_rl.envs.experts import EXPERTS, expert_for
from embodied_rl.registry import RegistryError

SCRIPTED_PREFIX = "scripted:"
SCRIPTED_KINDS = ("expert", "random")


class ScriptedPolicy:
    """A hand-written policy with the two methods evaluation calls.

    Args:
        name: Shown in reports (``scripted:expert``).
        act_fn: ``(obs, rng) -> actions`` over a contract batch.
        seed: Seed of the generator passed to ``act_fn`` (random choices are reproducible).
    """

    training = False

    def __init__(self, name: str, act_fn: Callable[[Any, np.random.Generator], Any], seed: int = 0) -> None:
        self.name = name
        self._act_fn = act_fn
        self._rng = np.random.default_rng(seed)

    def act(self, obs: Any, deterministic: bool = True) -> SimpleNamespace:
        return SimpleNamespace(actions=self._act_fn(obs, self._rng))

    def train(self, mode: bool = True) -> ScriptedPolicy:
        return self


def _batch_size(obs: Any) -> int:
    leaf = obs
    while isinstance(leaf, dict):
        leaf = next(iter(leaf.values()))
    return len(leaf)


def _random_actions(action_space: Any) -> Callable[[Any, np.random.Generator], Any]:
    def act(obs: Any, rng: np.random.Generator) -> Any:
        space = action_space
        space.seed(int(rng.integers(2**31)))
        samples = [space.sample() for _ in range(_batch_size(obs))]
        if isinstance(samples[0], str):
            return samples
        return torch.as_tensor(np.stack(samples))

    return act


def scripted_policy(
    kind: str, env_name: str, action_space: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> ScriptedPolicy:
    """Build ``scripted:<kind>`` for one env.

    Args:
        kind: ``"expert"`` (the env's scripted expert, see ``embodied_rl.envs.experts``)
            or ``"random"`` (uniform samples from the action space).
        env_name: Registered env name (the expert is looked up by it).
        action_space: The env's single-env action space (for ``random``).
        seed: Seed of the policy's own randomness.
        env_kwargs: The task's env kwargs (experts of a family read them, e.g. the tool env's task).
    """
    if kind == "expert":
        try:
            EXPERTS.entry(env_name)
        except RegistryError as err:
            raise RegistryError(
                f"no scripted expert for env '{env_name}' (experts exist for: {', '.join(EXPERTS.names())})"
            ) from err
        expert = expert_for(env_name, 0.0, env_kwargs)
        return ScriptedPolicy(f"{SCRIPTED_PREFIX}expert", expert, seed)
    if kind == "random":
        return ScriptedPolicy(f"{SCRIPTED_PREFIX}random", _random_actions(action_space), seed)
    raise ValueError(f"unknown scripted policy '{kind}'; choose one of {SCRIPTED_KINDS}")
