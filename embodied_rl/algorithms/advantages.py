"""Advantage estimators: GAE, chunk-level GAE, GRPO group advantages, normalisation.

All functions are pure and stateless: they take tensors and return new tensors,
never modify their inputs and hold no state. Rollout tensors are time-major,
``[T, N]`` = (time steps, parallel environments).

Conventions used throughout:

* ``terminated[t]`` -- the episode reached a terminal MDP state at step ``t``;
  there is no future value to bootstrap from.
* ``truncated[t]`` -- the episode was cut (time limit) at step ``t``; the future
  value of the true next observation still counts.
* ``dones[t] = terminated[t] | truncated[t]`` -- the trajectory ends at ``t``, so
  the advantage recursion must not reach across into the next episode.
* ``next_values[t]`` is ``V(s_{t+1})`` for the TRUE next observation ``s_{t+1}``:
  for a truncated step it is the value of the final observation (not of the
  reset observation stored at ``t + 1``), for the last rollout step it is the
  bootstrap value. It is ignored where ``terminated[t]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "gae",
    "gae_chunk",
    "grpo_advantages",
    "group_has_signal",
    "normalize_advantages",
]


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """Return float64 if any input is float64, else float32.

    Half-precision inputs (float16 / bfloat16) are upcast to float32 because a
    discounted sum accumulated over T steps loses too much precision in them.
    """
    if any(t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


def gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    dones: Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[Tensor, Tensor]:
    """Generalised Advantage Estimation (Schulman et al., 2016).

    Formula, for t = T-1 down to 0::

        delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
        A_t     = delta_t + gamma * gae_lambda * (1 - done_t) * A_{t+1},   A_T = 0
        R_t     = A_t + V(s_t)            (the lambda-return, the value target)

    ``terminated_t`` stops bootstrapping from ``next_values[t]``; ``done_t`` stops
    the recursion from reaching into the next episode. A truncated step
    (``done_t`` and not ``terminated_t``) still bootstraps from ``next_values[t]``.
    ``terminated`` is treated as implying ``done`` (the two masks are OR-ed).

    The recursion is a Python loop over T, vectorised over N.

    Args:
        rewards: ``r_t``, float, shape ``[T, N]``.
        values: ``V(s_t)``, float, shape ``[T, N]``.
        next_values: ``V(s_{t+1})`` of the true next observation, float, ``[T, N]``.
        terminated: bool, ``[T, N]``; True where ``s_{t+1}`` is terminal.
        dones: bool, ``[T, N]``; ``terminated | truncated``.
        gamma: discount factor, in ``[0, 1]``.
        gae_lambda: GAE bias/variance trade-off, in ``[0, 1]``; 1 gives the
            Monte-Carlo return minus the value, 0 the one-step TD error.

    Returns:
        ``(advantages, returns)``, each ``[T, N]``, in float32 (float64 if any of
        ``rewards``, ``values``, ``next_values`` is float64).

    Raises:
        ValueError: if the five tensors do not share one shape or have no time axis.
    """
    shape = rewards.shape
    for name, tensor in (
        ("values", values),
        ("next_values", next_values),
        ("terminated", terminated),
        ("dones", dones),
    ):
        if tensor.shape != shape:
            raise ValueError(
                f"gae: {name} has shape {tuple(tensor.shape)}, expected the shape of rewards {tuple(shape)}"
            )
    if rewards.ndim < 1:
        raise ValueError("gae: inputs need a leading time axis, shape [T, N]")

    dtype = _compute_dtype(rewards, values, next_values)
    rewards = rewards.to(dtype)
    values = values.to(dtype)
    next_values = next_values.to(dtype)
    terminated = terminated.bool()
    not_terminated = (~terminated).to(dtype)
    not_done = (~(dones.bool() | terminated)).to(dtype)

    deltas = rewards + gamma * not_terminated * next_values - values
    carry = gamma * gae_lambda * not_done

    advantages = torch.empty_like(deltas)
    last = torch.zeros_like(deltas[0])
    for t in range(shape[0] - 1, -1, -1):
        last = deltas[t] + carry[t] * last
        advantages[t] = last
    returns = advantages + values
    return advantages, returns


def gae_chunk(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    dones: Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[Tensor, Tensor]:
    """GAE over action chunks: one policy step executes K actions.

    Chunk-level convention (as in RLinf): the chunk is a single macro step whose
    reward is the undiscounted sum of its K per-action rewards, and gamma is
    applied once per chunk, not once per action::

        r_t     = sum_{k=0}^{K-1} rewards[t, :, k]
        delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
        A_t     = delta_t + gamma * gae_lambda * (1 - done_t) * A_{t+1}

    ``terminated`` / ``dones`` mark the chunk in which the episode ended; the
    rewards of actions after the end inside that chunk should be zero.

    Args:
        rewards: float, shape ``[T, N, K]``.
        values: float, ``[T, N]``.
        next_values: float, ``[T, N]``; value after the whole chunk.
        terminated: bool, ``[T, N]``.
        dones: bool, ``[T, N]``.
        gamma: discount per chunk.
        gae_lambda: GAE lambda.

    Returns:
        ``(advantages, returns)``, each ``[T, N]`` (see :func:`gae`).

    Raises:
        ValueError: if ``rewards`` is not ``values.shape + (K,)``.
    """
    if rewards.ndim != values.ndim + 1 or rewards.shape[:-1] != values.shape:
        raise ValueError(
            f"gae_chunk: rewards must have shape [T, N, K] matching values {tuple(values.shape)}"
            f" plus a chunk axis, got {tuple(rewards.shape)}"
        )
    chunk_rewards = rewards.to(_compute_dtype(rewards, values, next_values)).sum(dim=-1)
    return gae(chunk_rewards, values, next_values, terminated, dones, gamma, gae_lambda)


def _grouped(returns: Tensor, group_size: int, fn_name: str) -> Tensor:
    """Reshape ``[B]`` into ``[B // group_size, group_size]`` after validating sizes."""
    if returns.ndim != 1:
        raise ValueError(f"{fn_name}: returns must be 1-D [B], got shape {tuple(returns.shape)}")
    if group_size < 2:
        raise ValueError(f"{fn_name}: group_size must be >= 2, got {group_size}")
    batch = returns.shape[0]
    if batch % group_size != 0:
        raise ValueError(f"{fn_name}: batch size {batch} is not divisible by group_size {group_size}")
    dtype = returns.dtype if returns.is_floating_point() else torch.float32
    return returns.to(dtype).reshape(batch // group_size, group_size)


def grpo_advantages(
    returns: Tensor,
    group_size: int,
    eps: float = 1e-6,
    scale_by_std: bool = True,
) -> Tensor:
    """Group-relative advantages (GRPO; Shao et al., 2024).

    The batch is split into contiguous groups of ``group_size`` rollouts that
    share a seed / task. Within group g::

        A_i = (R_i - mean_g) / (std_g + eps)     if scale_by_std
        A_i =  R_i - mean_g                      otherwise (Dr. GRPO, Liu et al., 2025)

    where ``std_g`` is the population standard deviation (``unbiased=False``).
    A group whose returns are all equal gets all-zero advantages.

    Args:
        returns: episode returns ``R_i``, shape ``[B]``, ``B % group_size == 0``.
        group_size: rollouts per group, >= 2.
        eps: added to the std to avoid division by zero.
        scale_by_std: divide by the group std (GRPO) or not (Dr. GRPO).

    Returns:
        Advantages, shape ``[B]``, float.

    Raises:
        ValueError: if ``returns`` is not 1-D, ``group_size < 2`` or
            ``B % group_size != 0``.
    """
    grouped = _grouped(returns, group_size, "grpo_advantages")
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_by_std:
        centred = centred / (grouped.std(dim=1, unbiased=False, keepdim=True) + eps)
    return centred.reshape(-1)


def per_step_advantages(advantages: Tensor, mask: Tensor, per_episode: bool = False) -> Tensor:
    """Give each step of episode ``i`` its episode's advantage ``A_i`` (multi-turn GRPO).

    ``mask[t, i]`` marks the steps of episode ``i``; ``L_i = sum_t mask[t, i]`` is its length::

        A_{t,i} = A_i                       if not per_episode
        A_{t,i} = A_i * L_mean / L_i         if per_episode,   L_mean = mean_i L_i

    With ``per_episode`` every episode carries the same total weight in a step-mean loss
    (``sum_t A_{t,i} = A_i * L_mean``) however many steps it took; otherwise a long episode
    (often a failed one that ran to the step limit) outweighs a short success by its length.
    Steps outside the mask get the same values; the loss masks them out.

    Args:
        advantages: per-episode advantages ``[B]``.
        mask: steps of each episode, ``[T, B]`` (bool or 0/1).
        per_episode: scale by ``L_mean / L_i`` (episodes of length 0 get 0).

    Returns:
        Per-step advantages ``[T, B]``.
    """
    if advantages.dim() != 1 or mask.dim() != 2 or mask.shape[1] != advantages.shape[0]:
        raise ValueError(
            f"per_step_advantages: need advantages [B] and mask [T, B], got "
            f"{tuple(advantages.shape)} and {tuple(mask.shape)}"
        )
    if per_episode:
        lengths = mask.to(advantages.dtype).sum(0)
        scale = torch.where(lengths > 0, lengths.mean() / lengths.clamp(min=1), 0.0)
        advantages = advantages * scale
    return advantages[None].expand(mask.shape[0], -1)


def group_has_signal(returns: Tensor, group_size: int, atol: float = 0.0) -> Tensor:
    """Mark the rollouts whose group has a non-constant return.

    A group where ``max_g - min_g <= atol`` gives zero GRPO advantage to every
    member and carries no learning signal; all its members are marked False::

        has_signal_i = (max_g - min_g) > atol,   for i in group g

    Args:
        returns: episode returns, shape ``[B]``, ``B % group_size == 0``.
        group_size: rollouts per group, >= 2.
        atol: spread at or below which a group counts as constant.

    Returns:
        Bool tensor, shape ``[B]``.

    Raises:
        ValueError: on the same bad sizes as :func:`grpo_advantages`.
    """
    grouped = _grouped(returns, group_size, "group_has_signal")
    spread = grouped.amax(dim=1) - grouped.amin(dim=1)
    return (spread > atol).repeat_interleave(group_size)


def normalize_advantages(
    advantages: Tensor,
    mask: Tensor | None = None,
    eps: float = 1e-8,
) -> Tensor:
    """Standardise advantages over the valid (masked) entries.

    Over the n entries where ``mask`` is True::

        mean = sum(A) / n
        std  = sqrt(sum((A - mean)^2) / (n - 1))     (unbiased, as torch .std()
                                                       and Stable-Baselines3)
        A'   = (A - mean) / (std + eps)

    Entries outside the mask are returned as 0. With n <= 1 the std is taken as
    0 (no NaN); with n == 0 the result is all zeros. No host-device sync.

    Args:
        advantages: float, any shape.
        mask: bool, same shape as ``advantages``; None means all entries valid.
        eps: added to the std.

    Returns:
        Normalised advantages, same shape as ``advantages``.
    """
    if mask is None:
        mask = torch.ones_like(advantages, dtype=torch.bool)
    mask = mask.bool().expand_as(advantages)
    zeros = torch.zeros_like(advantages)
    count = mask.sum().to(advantages.dtype)
    mean = torch.where(mask, advantages, zeros).sum() / count.clamp(min=1.0)
    centred = torch.where(mask, advantages - mean, zeros)
    var = centred.square().sum() / (count - 1.0).clamp(min=1.0)
    return centred / (var.sqrt() + eps)
