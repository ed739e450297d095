"""Flow-matching math for pi0-style action experts and their exact-likelihood RL samplers.

All functions are pure and stateless. Conventions follow pi0 (openpi):

* data action chunk ``x0`` (``[B, H, A]``: ``H`` chunk length, ``A`` action dim), noise
  ``eps ~ N(0, I)``, linear interpolation ``x_t = (1 - t) * x0 + t * eps``: ``t = 1`` is pure
  noise, ``t = 0`` is data;
* the velocity network regresses the conditional target ``u = eps - x0``; its minimiser is the
  marginal velocity ``v(x, t) = E[eps - x0 | x_t = x]``;
* sampling integrates ``dx/dt = v(x, t)`` from ``t = 1`` down to ``t = 0`` over ``K`` uniform
  steps: ``t_k = 1 - k / K`` (``k = 0..K``), ``dt = -1 / K``, ``x_{k+1} = x_k + v(x_k, t_k) dt``;
  the action is ``x_K``.

Two stochastic variants make every denoising transition a Gaussian with a known density, so
the log-likelihood of the whole chain ``x_0 -> x_1 -> ... -> x_K`` is exact (pi_RL, Chen et al.
2025; Flow-GRPO, Liu et al. 2025; ReinFlow, Zhang et al. 2025):

* **Flow-SDE**: the Euler-Maruyama discretisation of the reverse-time SDE that has the same
  marginals ``p_t`` as the ODE (:func:`sde_transition`);
* **Flow-Noise**: the ODE mean plus learned Gaussian noise (:func:`flow_noise_transition`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "LogProbLevel",
    "aggregate_log_prob",
    "bounded_log_std",
    "flow_matching_loss",
    "flow_noise_transition",
    "gaussian_entropy_elementwise",
    "gaussian_log_density",
    "interpolate",
    "ode_step",
    "sample_times",
    "sde_sigma",
    "sde_transition",
    "sinusoidal_time_embedding",
    "time_grid",
]

LogProbLevel = Literal["chunk", "action", "dim"]
_LEVELS: tuple[str, ...] = ("chunk", "action", "dim")
_HALF_LOG_2PI: float = 0.5 * math.log(2.0 * math.pi)


def _expand_time(t: Tensor | float, like: Tensor) -> Tensor | float:
    """Make a per-sample time ``[B]`` broadcast against ``like`` ``[B, ...]``; pass others through."""
    if isinstance(t, Tensor) and t.dim() == 1 and like.dim() > 1 and t.shape[0] == like.shape[0]:
        return t.view(-1, *([1] * (like.dim() - 1)))
    return t


def time_grid(num_steps: int, device: torch.device | str | None = None) -> Tensor:
    """The denoising time grid, from pure noise to data.

    Formula::

        t_k = 1 - k / K,   k = 0..K        (t_0 = 1 exactly, t_K = 0 exactly)

    Args:
        num_steps: ``K >= 1``.
        device: device of the result.

    Returns:
        float32, ``[K + 1]``, decreasing.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    k = torch.arange(num_steps + 1, dtype=torch.float32, device=device)
    return 1.0 - k / num_steps


def interpolate(x0: Tensor, eps: Tensor, t: Tensor | float) -> Tensor:
    """The flow-matching interpolant between data and noise.

    Formula::

        x_t = (1 - t) * x0 + t * eps

    Args:
        x0: data, ``[B, ...]``.
        eps: noise, same shape as ``x0``.
        t: a float, a per-sample ``[B]`` tensor, or any tensor broadcastable to ``x0``.

    Returns:
        ``x_t``, same shape as ``x0``.
    """
    t = _expand_time(t, x0)
    return (1.0 - t) * x0 + t * eps


def sample_times(
    batch: int,
    generator: torch.Generator | None = None,
    dist: Literal["beta", "uniform"] = "beta",
    device: torch.device | str | None = None,
) -> Tensor:
    """Training times for the flow-matching loss.

    ``"beta"`` is pi0's schedule: ``t = 0.001 + 0.999 * s`` with ``s ~ Beta(1.5, 1)``, which puts
    more mass on noisy times (``t`` near 1). ``Beta(1.5, 1)`` has CDF ``F(s) = s^1.5``, so it is
    drawn exactly by inverse-CDF sampling, which lets ``generator`` control it::

        s = U^(2/3),   U ~ Uniform(0, 1)

    ``"uniform"`` draws ``t ~ Uniform(0.001, 1)`` (the same affine map applied to ``U``).

    Args:
        batch: number of times ``B``.
        generator: optional RNG for reproducibility.
        dist: ``"beta"`` or ``"uniform"``.
        device: device of the result.

    Returns:
        float32, ``[B]``, in ``[0.001, 1]``.
    """
    u = torch.rand(batch, generator=generator, device=device)
    if dist == "beta":
        s = u.pow(2.0 / 3.0)
    elif dist == "uniform":
        s = u
    else:
        raise ValueError(f"dist must be 'beta' or 'uniform', got {dist!r}")
    return 0.001 + 0.999 * s


def flow_matching_loss(v_pred: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
    """Conditional flow-matching loss (pi0 / rectified flow).

    Formula::

        u = eps - x0,   L = mean_i (v_pred_i - u_i)^2

    Its minimiser over functions of ``(x_t, t)`` is the marginal velocity
    ``v(x, t) = E[eps - x0 | x_t = x]``.

    Args:
        v_pred: predicted velocity at ``x_t = interpolate(x0, eps, t)``, ``[B, ...]``.
        x0: data, same shape.
        eps: noise, same shape.

    Returns:
        0-d tensor.
    """
    return (v_pred - (eps - x0)).square().mean()


def ode_step(x: Tensor, v: Tensor, dt: float | Tensor) -> Tensor:
    """One explicit Euler step of the probability-flow ODE ``dx/dt = v``.

    Formula::

        x_{k+1} = x_k + v(x_k, t_k) * dt        (dt = -1/K < 0 when denoising)

    Args:
        x: ``x_k``, ``[*]``.
        v: ``v(x_k, t_k)``, same shape.
        dt: step, a float or a tensor broadcastable to ``x``.

    Returns:
        ``x_{k+1}``, same shape as ``x``.
    """
    return x + v * dt


def sinusoidal_time_embedding(
    t: Tensor, dim: int, min_period: float = 4e-3, max_period: float = 4.0
) -> Tensor:
    """pi0's sinusoidal embedding of scalar times.

    Formula::

        f_j = 2 pi / (min_period * (max_period / min_period)^(j / (dim/2 - 1))),   j = 0..dim/2-1
        emb(t) = [sin(f_j t)]_j ++ [cos(f_j t)]_j

    Args:
        t: ``[N]``.
        dim: even embedding size ``>= 2``.
        min_period: shortest period (resolves small time differences).
        max_period: longest period.

    Returns:
        ``[N, dim]``, dtype of ``t`` (float32 when ``t`` is not floating).
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be even and >= 2, got {dim}")
    dtype = t.dtype if t.is_floating_point() else torch.float32
    half = dim // 2
    fraction = torch.linspace(0.0, 1.0, half, dtype=torch.float64, device=t.device)
    freq = (2.0 * math.pi / (min_period * (max_period / min_period) ** fraction)).to(dtype)
    angle = t.to(dtype).unsqueeze(-1) * freq
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


def sde_sigma(t: Tensor | float, noise_level: float, t_max: float) -> Tensor | float:
    """Flow-SDE diffusion coefficient (Flow-GRPO / pi_RL schedule).

    Formula::

        sigma_t = a * sqrt(t / (1 - min(t, t_max)))

    The schedule ``a * sqrt(t / (1 - t))`` is infinite at ``t = 1``; following Flow-GRPO, only the
    ``1 - t`` in the denominator is clamped, with ``t_max`` the first interior grid point
    ``1 - 1/K``. At ``t = 1`` this gives ``sigma = a * sqrt(K)`` and a first-step std
    ``sigma * sqrt(|dt|) = a``. For ``t <= t_max`` the schedule is exact. The clamped first step
    is a large Euler-Maruyama step: from ``x_0 ~ N(0, I)`` (score ``-x``) it gives
    ``x_1 = (1 - a^2/2) x_0 + v dt + a z``, a variance about ``a^4 / 4`` above the ODE's, which
    the following steps shrink (the final marginal error is small, see the tests).

    Args:
        t: time(s) in ``[0, 1]``.
        noise_level: ``a >= 0``.
        t_max: clamp for the denominator, ``< 1``.

    Returns:
        ``sigma_t``, like ``t``.
    """
    if isinstance(t, Tensor):
        return noise_level * torch.sqrt(t / (1.0 - t.clamp(max=t_max)))
    return noise_level * math.sqrt(t / (1.0 - min(t, t_max)))


def sde_transition(
    x: Tensor,
    v: Tensor,
    t: Tensor | float,
    dt: float,
    noise_level: float,
    t_max: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Flow-SDE: one Euler-Maruyama step of the marginal-preserving reverse-time SDE.

    Derivation. The ODE ``dx/dt = v(x, t)`` transports the marginals ``p_t`` of
    ``x_t = (1 - t) x0 + t eps``: ``d p_t / dt = -div(v p_t)``. In reverse time ``s = 1 - t``
    (``ds = |dt|``, noise to data) this reads ``d p / ds = div(v p)``. For any ``g >= 0``, using
    ``p * score = grad p`` with ``score = grad log p_t``::

        div(v p) = -div((-v + g^2/2 * score) p) + g^2/2 * laplacian(p)

    which is the Fokker-Planck equation of ``dx = (-v + g^2/2 * score) ds + g dW_s``; this SDE
    therefore has the same marginals ``p_t`` as the ODE for every ``g``. The score follows from
    the velocity: with ``E[eps | x_t = x] =: e`` and ``E[x0 | x_t = x] =: d``, ``x = (1-t) d + t e``
    and ``v = e - d``, so ``e = x + (1 - t) v`` and (Tweedie, ``x_t | x0`` is ``N((1-t) x0, t^2)``)::

        score(x, t) = -E[eps | x_t = x] / t = -(x + (1 - t) v(x, t)) / t

    Writing the step with the (negative) ODE step ``dt = -ds`` and ``g = sigma_t``::

        mean = x + [v + sigma_t^2 / (2 t) * (x + (1 - t) v)] * dt
             = (1 + c dt) * x + (1 + c (1 - t)) dt * v,      c = sigma_t^2 / (2 t)
        std  = sigma_t * sqrt(|dt|)
        x_{k+1} ~ N(mean, std^2)   (elementwise)

    Sign check: the correction ``-sigma^2/2 * score * ds`` equals
    ``+sigma^2/(2t) (x + (1-t) v) * dt``; it pulls ``x`` towards the denoised mean, compensating
    the injected variance. With ``sigma_t = a sqrt(t / (1 - t))`` (:func:`sde_sigma`) the factor
    ``c = sigma_t^2 / (2 t) = a^2 / (2 (1 - min(t, t_max)))`` has no ``1/t``, so ``t = 0`` is
    safe, and ``a = 0`` (``c = 0``) gives bitwise the ODE step ``1 * x + dt * v = x + v * dt``.

    Args:
        x: ``x_k``, ``[*]``.
        v: ``v(x_k, t_k)``, same shape.
        t: ``t_k`` (float or tensor broadcastable to ``x``; a ``[B]`` tensor is broadcast per sample).
        dt: the ODE step, ``-1/K`` when denoising.
        noise_level: ``a >= 0``.
        t_max: denominator clamp of :func:`sde_sigma`; default ``1 - |dt|`` (the first interior
            grid point).

    Returns:
        ``(mean, std)``: ``mean`` like ``x``; ``std`` like ``t`` (broadcastable to ``x``; a 0-d
        tensor for a float ``t``).
    """
    if t_max is None:
        t_max = 1.0 - abs(dt)
    t = _expand_time(t, x)
    # sigma_t^2 / (2 t) = a^2 / (2 (1 - min(t, t_max))): no 1/t, finite at t = 0.
    if isinstance(t, Tensor):
        coef = 0.5 * noise_level**2 / (1.0 - t.clamp(max=t_max))
        std = sde_sigma(t, noise_level, t_max) * math.sqrt(abs(dt))
    else:
        coef = 0.5 * noise_level**2 / (1.0 - min(t, t_max))
        std = torch.tensor(
            sde_sigma(t, noise_level, t_max) * math.sqrt(abs(dt)), dtype=x.dtype, device=x.device
        )
    # mean = alpha * x + beta * v with per-time scalars (3 elementwise passes instead of 6).
    alpha = 1.0 + coef * dt
    beta = (1.0 + coef * (1.0 - t)) * dt
    return alpha * x + beta * v, std


def bounded_log_std(raw: Tensor, log_std_min: float, log_std_max: float) -> Tensor:
    """Squash a raw network output into a log standard deviation range (Flow-Noise / ReinFlow).

    Formula::

        log_std = min + (max - min) * sigmoid(raw)

    Args:
        raw: unbounded, ``[*]``.
        log_std_min: lower bound.
        log_std_max: upper bound, ``>= log_std_min``.

    Returns:
        ``log_std`` in ``[min, max]``, same shape as ``raw``.
    """
    log_std = log_std_min + (log_std_max - log_std_min) * torch.sigmoid(raw)
    # The clamp only guards against float rounding past a bound when the sigmoid saturates.
    return log_std.clamp(log_std_min, log_std_max)


def flow_noise_transition(x: Tensor, v: Tensor, dt: float | Tensor, log_std: Tensor) -> tuple[Tensor, Tensor]:
    """Flow-Noise: the ODE step plus learned Gaussian noise.

    Formula::

        mean = x + v * dt,   std = exp(log_std),   x_{k+1} ~ N(mean, std^2)   (elementwise)

    Args:
        x: ``x_k``, ``[*]``.
        v: ``v(x_k, t_k)``, same shape.
        dt: the ODE step.
        log_std: learned log std, broadcastable to ``x`` (see :func:`bounded_log_std`).

    Returns:
        ``(mean, std)``.
    """
    return ode_step(x, v, dt), log_std.exp()


def gaussian_log_density(x: Tensor, mean: Tensor, std: Tensor, log_std: Tensor | None = None) -> Tensor:
    """Elementwise Gaussian log density (``torch.distributions.Normal(mean, std).log_prob(x)``).

    Formula::

        log N(x; mu, sigma^2) = -0.5 * ((x - mu) / sigma)^2 - log sigma - 0.5 * log(2 pi)

    Args:
        x: ``[*]``.
        mean: broadcastable to ``x``.
        std: ``> 0``, broadcastable to ``x``.
        log_std: ``log(std)`` when the caller has it (saves a ``log``; default ``std.log()``).

    Returns:
        the broadcast shape of the inputs (``x.shape`` when ``mean``/``std`` broadcast to it).
    """
    z = (x - mean) / std
    return -0.5 * z.square() - (std.log() if log_std is None else log_std) - _HALF_LOG_2PI


def gaussian_entropy_elementwise(std: Tensor) -> Tensor:
    """Elementwise Gaussian entropy (``torch.distributions.Normal(., std).entropy()``).

    Formula::

        H = 0.5 * log(2 pi e sigma^2) = 0.5 + 0.5 * log(2 pi) + log sigma

    Args:
        std: ``> 0``, ``[*]``.

    Returns:
        same shape as ``std``.
    """
    return 0.5 + _HALF_LOG_2PI + std.log()


def aggregate_log_prob(lp: Tensor, level: LogProbLevel = "chunk") -> Tensor:
    """Sum elementwise chunk log-probs (or entropies) to the granularity the loss uses.

    Formula::

        chunk:  out[b]       = sum_{h, a} lp[b, h, a]     -> [B]
        action: out[b, h]    = sum_a lp[b, h, a]          -> [B, H]
        dim:    out[b, h, a] = lp[b, h, a]                -> [B, H, A]

    Args:
        lp: ``[B, H, A]``.
        level: ``"chunk"``, ``"action"`` or ``"dim"``.

    Returns:
        see above.
    """
    if lp.dim() != 3:
        raise ValueError(f"expected [B, H, A], got shape {tuple(lp.shape)}")
    if level == "chunk":
        return lp.sum(dim=(-2, -1))
    if level == "action":
        return lp.sum(dim=-1)
    if level == "dim":
        return lp
    raise ValueError(f"level must be one of {_LEVELS}, got {level!r}")
