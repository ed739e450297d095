"""A time-major rollout buffer in torch tensors (on the policy's device)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from embodied_rl.envs.core import Obs, index_obs


def _alloc_like(x: Any, num_steps: int, num_envs: int, device: torch.device) -> Any:
    """Zeroed ``[T, N, ...]`` storage for a batch leaf ``x`` of ``[n, ...]`` (n <= N: a stage's rows)."""
    if isinstance(x, dict):
        return {k: _alloc_like(v, num_steps, num_envs, device) for k, v in x.items()}
    if isinstance(x, torch.Tensor):
        return torch.zeros((num_steps, num_envs, *x.shape[1:]), dtype=x.dtype, device=device)
    if isinstance(x, list):
        return [[None] * num_envs for _ in range(num_steps)]
    raise TypeError(f"cannot store a {type(x).__name__} in the rollout buffer")


def _store(dst: Any, t: int, x: Any, envs: slice) -> None:
    if isinstance(dst, dict):
        for k in dst:
            _store(dst[k], t, x[k], envs)
    elif isinstance(dst, torch.Tensor):
        dst[t, envs].copy_(x)
    else:
        dst[t][envs] = list(x)


def _flatten(x: Any) -> Any:
    """``[T, N, ...] -> [T*N, ...]`` (row ``t*N + i``); lists of lists are concatenated."""
    if isinstance(x, dict):
        return {k: _flatten(v) for k, v in x.items()}
    if isinstance(x, torch.Tensor):
        return x.reshape(-1, *x.shape[2:])
    return [item for row in x for item in row]


@dataclass
class Batch:
    """Flat training samples (``B = T*N`` rows, or a minibatch of them)."""

    obs: Obs
    actions: Any
    log_prob: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.log_prob.shape[0])

    def select(self, index: torch.Tensor) -> Batch:
        def pick(x: Any) -> Any:
            return None if x is None else index_obs(x, index) if isinstance(x, (dict, list)) else x[index]

        return Batch(
            obs=index_obs(self.obs, index),
            actions=pick(self.actions),
            log_prob=self.log_prob[index],
            advantages=self.advantages[index],
            returns=self.returns[index],
            values=pick(self.values),
            mask=pick(self.mask),
            extras={k: v[index] for k, v in self.extras.items()},
        )

    def minibatches(self, num_minibatches: int, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Shuffle rows and yield ``num_minibatches`` minibatches (sizes differ by at most 1)."""
        perm = torch.randperm(len(self), generator=generator).to(self.log_prob.device)
        shuffled = self.select(perm)  # one gather per epoch; minibatches are then cheap views
        sizes = [len(c) for c in perm.tensor_split(min(num_minibatches, max(len(self), 1)))]
        start = 0
        for size in sizes:
            yield shuffled.select(slice(start, start + size))
            start += size


class RolloutBuffer:
    """Storage for ``T`` steps of ``N`` envs; leaves are allocated from the first sample.

    Per step ``t``: ``obs[t]`` (the obs acted on), ``actions``, ``log_prob``, ``values``,
    ``rewards``, ``terminated``, ``truncated``, policy ``extras``, and
    ``final_values[t]`` = V(final obs) for envs truncated at ``t`` (for bootstrapping).
    ``mask[t, i]`` marks valid samples (all True for step rollouts; GRPO masks steps
    after an env's first episode). ``log_prob[t]`` is ``[N]`` for per-chunk likelihoods
    and ``[N, ...]`` when a policy reports them per action or per dimension
    (``policy.logprob_level``); its shape is taken from the first sample.
    """

    def __init__(self, num_steps: int, num_envs: int, device: str | torch.device = "cpu") -> None:
        self.num_steps = num_steps
        self.num_envs = num_envs
        self.device = torch.device(device)
        shape = (num_steps, num_envs)
        self.log_prob = torch.zeros(shape, device=self.device)
        self.values = torch.zeros(shape, device=self.device)
        self.rewards = torch.zeros(shape, device=self.device)
        self.terminated = torch.zeros(shape, dtype=torch.bool, device=self.device)
        self.truncated = torch.zeros(shape, dtype=torch.bool, device=self.device)
        self.final_values = torch.zeros(shape, device=self.device)
        self.mask = torch.ones(shape, dtype=torch.bool, device=self.device)
        self.last_values = torch.zeros(num_envs, device=self.device)
        self.obs: Any = None
        self.actions: Any = None
        self.extras: dict[str, torch.Tensor] = {}

    @property
    def dones(self) -> torch.Tensor:
        return self.terminated | self.truncated

    def add(
        self,
        t: int,
        obs: Obs,
        actions: Any,
        log_prob: torch.Tensor,
        value: torch.Tensor | None,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        extras: dict[str, torch.Tensor] | None = None,
        envs: slice = slice(None),
    ) -> None:
        """Store step ``t`` of all envs, or of the rows ``envs`` (one pipeline stage's envs)."""
        if self.obs is None:
            if log_prob.shape[1:] != self.log_prob.shape[2:]:
                self.log_prob = torch.zeros(
                    (*self.log_prob.shape[:2], *log_prob.shape[1:]), device=self.device
                )
            n, T = self.num_envs, self.num_steps
            self.obs = _alloc_like(obs, T, n, self.device)
            self.actions = _alloc_like(actions, T, n, self.device)
            self.extras = {k: _alloc_like(v, T, n, self.device) for k, v in (extras or {}).items()}
        _store(self.obs, t, obs, envs)
        _store(self.actions, t, actions, envs)
        for k, v in (extras or {}).items():
            self.extras[k][t, envs].copy_(v)
        self.log_prob[t, envs] = log_prob
        if value is not None:
            self.values[t, envs] = value
        self.rewards[t, envs] = reward.to(self.device)
        self.terminated[t, envs] = terminated.to(self.device)
        self.truncated[t, envs] = truncated.to(self.device)

    def next_values(self) -> torch.Tensor:
        """``V(s_{t+1})`` per step: the next step's value, V(final obs) after a truncation,
        and the bootstrap value after the last step (terminated steps are masked by GAE)."""
        nxt = torch.cat([self.values[1:], self.last_values[None]], 0)
        return torch.where(self.truncated, self.final_values, nxt)

    def to_batch(self, advantages: torch.Tensor, returns: torch.Tensor, use_mask: bool = False) -> Batch:
        """Flatten ``[T, N]`` storage into a :class:`Batch` (masked-out rows dropped if ``use_mask``)."""
        batch = Batch(
            obs=_flatten(self.obs),
            actions=_flatten(self.actions),
            log_prob=self.log_prob.reshape(-1, *self.log_prob.shape[2:]),
            advantages=advantages.reshape(-1),
            returns=returns.reshape(-1),
            values=self.values.reshape(-1),
            extras={k: _flatten(v) for k, v in self.extras.items()},
        )
        if use_mask:
            return batch.select(self.mask.reshape(-1).nonzero().flatten())
        return batch
