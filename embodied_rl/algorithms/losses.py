"""Policy-gradient losses, KL estimators and hand-written distribution math.

All functions are pure and stateless. Shapes are written as ``[*]`` for "any
batch shape"; ``mask`` arguments are bool tensors of the same shape as the
per-entry quantity (True = entry counts) and ``None`` means every entry counts.

Losses are returned as 0-d tensors to be minimised; the caller combines them,
e.g. ``loss = pg_loss + vf_coef * value_loss + ent_coef * entropy_loss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "KLEstimator",
    "PPOStats",
    "categorical_entropy",
    "categorical_log_prob",
    "entropy_loss",
    "gaussian_entropy",
    "gaussian_log_prob",
    "kl_estimate",
    "masked_mean",
    "ppo_clip_loss",
    "value_loss",
]

KLEstimator = Literal["k1", "k2", "k3"]
_KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3")
_HALF_LOG_2PI: float = 0.5 * math.log(2.0 * math.pi)


def masked_mean(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of ``x`` over the entries where ``mask`` is True.

    Formula::

        masked_mean(x, m) = sum_i m_i * x_i / max(sum_i m_i, 1)

    An empty mask gives 0 (not NaN). Entries outside the mask never enter the
    sum, so NaN / inf there do not leak into the result or its gradient.

    Args:
        x: float, shape ``[*]``.
        mask: bool, shape ``[*]`` (broadcastable to ``x``), or None for ``x.mean()``.

    Returns:
        0-d tensor.
    """
    if mask is None:
        return x.mean()
    mask = mask.bool().expand_as(x)
    total = torch.where(mask, x, torch.zeros_like(x)).sum()
    return total / mask.sum().clamp(min=1).to(total.dtype)


@dataclass(frozen=True)
class PPOStats:
    """Diagnostics from :func:`ppo_clip_loss`; all detached 0-d tensors.

    Attributes:
        clip_fraction: fraction of (masked) entries with the ratio outside the
            clip range, ``ratio < 1 - clip_low`` or ``ratio > 1 + clip_high``.
        approx_kl: k3 estimate of KL(old || new), ``mean((ratio - 1) - log ratio)``.
    """

    clip_fraction: Tensor
    approx_kl: Tensor


def ppo_clip_loss(
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    clip_low: float = 0.2,
    clip_high: float | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, PPOStats]:
    """PPO clipped surrogate objective (Schulman et al., 2017), as a loss.

    Formula::

        ratio = exp(log_prob - old_log_prob)
        loss  = -masked_mean( min(ratio * A, clamp(ratio, 1 - clip_low, 1 + clip_high) * A) )

    ``clip_high`` defaults to ``clip_low`` (symmetric clip); a larger
    ``clip_high`` is DAPO's "clip-higher".

    Args:
        log_prob: log pi_theta(a|s) under the current policy, ``[*]``.
        old_log_prob: log pi_old(a|s) from the rollout, ``[*]`` (not differentiated).
        advantages: ``A``, ``[*]``.
        clip_low: lower clip epsilon.
        clip_high: upper clip epsilon; None means ``clip_low``.
        mask: bool ``[*]`` or None.

    Returns:
        ``(loss, stats)``: 0-d loss and :class:`PPOStats`.
    """
    if clip_high is None:
        clip_high = clip_low
    log_ratio = log_prob - old_log_prob.detach()
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * advantages
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)

    with torch.no_grad():
        outside = (ratio < 1.0 - clip_low) | (ratio > 1.0 + clip_high)
        clip_fraction = masked_mean(outside.to(ratio.dtype), mask)
        approx_kl = masked_mean((ratio - 1.0) - log_ratio, mask)
    return loss, PPOStats(clip_fraction=clip_fraction.detach(), approx_kl=approx_kl.detach())


def value_loss(
    values: Tensor,
    returns: Tensor,
    old_values: Tensor | None = None,
    clip: float | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Squared-error value loss, optionally clipped around the rollout values.

    Formula (no 1/2 factor, as in Stable-Baselines3, so ``vf_coef=0.5`` means the
    same thing there and here)::

        loss = masked_mean((V - R)^2)

    with ``clip`` given::

        V_clipped = V_old + clamp(V - V_old, -clip, clip)
        loss      = masked_mean(max((V - R)^2, (V_clipped - R)^2))

    Args:
        values: current value predictions ``V``, ``[*]``.
        returns: value targets ``R``, ``[*]``.
        old_values: rollout-time predictions ``V_old``, ``[*]``; needed with ``clip``.
        clip: value clip range, or None for no clipping.
        mask: bool ``[*]`` or None.

    Returns:
        0-d loss.

    Raises:
        ValueError: if ``clip`` is given without ``old_values``.
    """
    squared_error = (values - returns).square()
    if clip is None:
        return masked_mean(squared_error, mask)
    if old_values is None:
        raise ValueError("value_loss: clip was given but old_values is None")
    old_values = old_values.detach()
    values_clipped = old_values + (values - old_values).clamp(-clip, clip)
    squared_error_clipped = (values_clipped - returns).square()
    return masked_mean(torch.maximum(squared_error, squared_error_clipped), mask)


def entropy_loss(entropy: Tensor, mask: Tensor | None = None) -> Tensor:
    """Negative mean entropy, to be added to the loss times ``ent_coef``.

    Formula::

        loss = -masked_mean(H)

    Args:
        entropy: per-sample policy entropy ``H``, ``[*]``.
        mask: bool ``[*]`` or None.

    Returns:
        0-d loss.
    """
    return -masked_mean(entropy, mask)


def kl_estimate(
    log_prob: Tensor,
    ref_log_prob: Tensor,
    estimator: KLEstimator = "k3",
) -> Tensor:
    """Per-sample estimate of KL(pi || pi_ref), samples drawn from pi.

    From Schulman, "Approximating KL Divergence" (2020). With
    ``log_r = ref_log_prob - log_prob = log(pi_ref(x) / pi(x))``, ``x ~ pi``::

        k1 = -log_r                         unbiased, high variance, can be < 0
        k2 = 0.5 * log_r^2                  biased, low variance, >= 0
        k3 = exp(log_r) - 1 - log_r         unbiased, low variance, >= 0

    Args:
        log_prob: log pi(x), ``[*]``.
        ref_log_prob: log pi_ref(x), ``[*]``.
        estimator: "k1", "k2" or "k3".

    Returns:
        Elementwise estimate, ``[*]``; average it for the KL.

    Raises:
        ValueError: for an estimator other than "k1", "k2", "k3".
    """
    log_r = ref_log_prob - log_prob
    if estimator == "k1":
        return -log_r
    if estimator == "k2":
        return 0.5 * log_r.square()
    if estimator == "k3":
        return torch.expm1(log_r) - log_r
    raise ValueError(f"kl_estimate: unknown estimator {estimator!r}; allowed values: {_KL_ESTIMATORS}")


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """Log density of a diagonal Gaussian, summed over the action dimension.

    Formula::

        log p(a) = sum_j [ -0.5 * ((a_j - mu_j) / sigma_j)^2 - log sigma_j - 0.5 * log(2 pi) ]

    Args:
        mean: ``mu``, ``[*, A]``.
        log_std: ``log sigma``, ``[*, A]`` or ``[A]`` (broadcast).
        actions: ``a``, ``[*, A]``.

    Returns:
        ``[*]``.
    """
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - _HALF_LOG_2PI).sum(dim=-1)


def gaussian_entropy(
    log_std: Tensor,
    batch_shape: torch.Size | tuple[int, ...] | None = None,
) -> Tensor:
    """Entropy of a diagonal Gaussian, summed over the action dimension.

    Formula::

        H = sum_j [ 0.5 + 0.5 * log(2 pi) + log sigma_j ]

    The entropy does not depend on the mean. A state-independent ``log_std`` of
    shape ``[A]`` gives a 0-d entropy; pass ``batch_shape`` to broadcast it to
    one value per sample (a view, no copy).

    Args:
        log_std: ``[*, A]`` or ``[A]``.
        batch_shape: shape to broadcast the result to, e.g. ``mean.shape[:-1]``.

    Returns:
        ``log_std.shape[:-1]``, or ``batch_shape`` when given.
    """
    entropy = (0.5 + _HALF_LOG_2PI + log_std).sum(dim=-1)
    if batch_shape is not None:
        entropy = entropy.expand(batch_shape)
    return entropy


def categorical_log_prob(logits: Tensor, actions: Tensor) -> Tensor:
    """Log probability of integer actions under a categorical distribution.

    Formula::

        log p(a) = log_softmax(logits)[a] = logits_a - logsumexp(logits)

    Args:
        logits: unnormalised log probabilities, ``[*, C]``.
        actions: integer class indices, ``[*]``.

    Returns:
        ``[*]``.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    return log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: Tensor) -> Tensor:
    """Entropy of a categorical distribution given by logits.

    Formula::

        H = -sum_c p_c * log p_c,    log p = log_softmax(logits)

    Classes with ``-inf`` logits (masked actions) contribute 0, not NaN.

    Args:
        logits: ``[*, C]``.

    Returns:
        ``[*]``.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    log_probs = log_probs.clamp(min=torch.finfo(log_probs.dtype).min)
    return -(log_probs.exp() * log_probs).sum(dim=-1)
