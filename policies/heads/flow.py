"""Flow-matching action head (a pi0-style "action expert") with exact-likelihood RL samplers.

The head maps a conditioning vector (backbone features) to an action chunk ``[B, H, A]`` by
integrating a learned velocity field from noise (``t = 1``) to data (``t = 0``), see
:mod:`embodied_rl.policies.heads.flow_math` for the conventions and formulas. For RL the
denoising chain is made stochastic so every transition is Gaussian and the chunk's
log-likelihood is exact (pi_RL):

* ``sampler="ode"``: plain Euler ODE; no likelihood (log-prob and entropy are zeros);
* ``sampler="sde"`` (Flow-SDE): Euler-Maruyama steps of the marginal-preserving SDE, on one
  uniformly drawn step per sample (``sde_steps="one"``, the rest ODE) or on every step
  (``"all"``, including the last one, as in Flow-GRPO);
* ``sampler="noise"`` (Flow-Noise / ReinFlow): ODE mean plus Gaussian noise whose bounded
  log-std comes from a small noise network on the expert's last hidden layer, on every step.

The likelihood is that of the transitions ``x_{k+1} | x_k``; the density of the initial noise
``x_0 ~ N(0, I)`` is left out because it does not depend on the parameters (it cancels in
importance ratios). ``sample`` returns everything ``log_prob`` needs in ``extras``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from embodied_rl.policies.heads.flow_math import (
    bounded_log_std,
    flow_matching_loss,
    flow_noise_transition,
    gaussian_entropy_elementwise,
    gaussian_log_density,
    interpolate,
    ode_step,
    sample_times,
    sde_transition,
    sinusoidal_time_embedding,
    time_grid,
)
from torch import Tensor, nn

__all__ = ["FlowMatchingHead"]

_SAMPLERS: tuple[str, ...] = ("ode", "sde", "noise")
_SDE_STEPS: tuple[str, ...] = ("one", "all")


class FlowMatchingHead(nn.Module):
    """A flow-matching action expert with Flow-SDE / Flow-Noise exact-likelihood sampling.

    Velocity network (the "action expert"): an MLP (SiLU) on
    ``concat(x_t [B, H*A], emb(t) [B, E], cond [B, cond_dim])`` -> ``v [B, H, A]``; its last hidden
    layer are the "expert features". Noise network (``sampler="noise"`` only): an MLP on
    ``concat(expert features, emb(t))`` -> raw ``[B, H*A]`` -> ``log_std`` in
    ``[log_std_min, log_std_max]`` (:func:`~embodied_rl.policies.heads.flow_math.bounded_log_std`).

    ``extras`` written by :meth:`sample` (same keys for every sampler, so batches stack):

    * ``"chain"``: float ``[B, K+1, H, A]``, ``x_0`` (noise) ... ``x_K`` (the action);
    * ``"stochastic"``: bool ``[B, K]``, which transitions were stochastic (enter the likelihood);
    * ``"sde_step"``: long ``[B]``, the stochastic step of ``sde_steps="one"``, else ``-1``.

    Args:
        cond_dim: size of the conditioning vector.
        action_dim: ``A``.
        chunk: ``H``, actions per chunk.
        num_steps: ``K`` denoising steps.
        sampler: ``"ode"``, ``"sde"`` or ``"noise"``.
        noise_level: Flow-SDE ``a`` in ``sigma_t = a sqrt(t / (1 - t))``; must be ``> 0`` for
            ``"sde"``.
        sde_steps: ``"one"`` or ``"all"`` (Flow-SDE only).
        log_std_min: Flow-Noise lower log-std bound; the default ``-4.6`` is ``std ~ 0.010``.
        log_std_max: Flow-Noise upper log-std bound; the default ``-1.2`` is ``std ~ 0.30``
            (ReinFlow-style bounds on a per-step noise std).
        hidden_sizes: hidden layers of the velocity network.
        time_embed_dim: ``E``, even.
        time_dist: training-time distribution of :meth:`sft_loss`, ``"beta"`` (pi0) or ``"uniform"``.
        noise_hidden_size: width of the noise network's one hidden layer (small, so Flow-Noise
            sampling costs little over the ODE).
    """

    def __init__(
        self,
        cond_dim: int,
        action_dim: int,
        chunk: int = 1,
        *,
        num_steps: int = 5,
        sampler: str = "sde",
        noise_level: float = 0.5,
        sde_steps: str = "one",
        log_std_min: float = -4.6,
        log_std_max: float = -1.2,
        hidden_sizes: Sequence[int] = (256, 256),
        time_embed_dim: int = 32,
        time_dist: str = "beta",
        noise_hidden_size: int = 64,
    ) -> None:
        super().__init__()
        if sampler not in _SAMPLERS:
            raise ValueError(f"sampler must be one of {_SAMPLERS}, got {sampler!r}")
        if sde_steps not in _SDE_STEPS:
            raise ValueError(f"sde_steps must be one of {_SDE_STEPS}, got {sde_steps!r}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if noise_level < 0 or (sampler == "sde" and noise_level == 0):
            raise ValueError(
                f"noise_level must be > 0 for the sde sampler (>= 0 otherwise), got {noise_level}"
            )
        if log_std_min > log_std_max:
            raise ValueError(f"log_std_min ({log_std_min}) must be <= log_std_max ({log_std_max})")
        if time_embed_dim < 2 or time_embed_dim % 2:
            raise ValueError(f"time_embed_dim must be even and >= 2, got {time_embed_dim}")
        if time_dist not in ("beta", "uniform"):
            raise ValueError(f"time_dist must be 'beta' or 'uniform', got {time_dist!r}")
        self.cond_dim = int(cond_dim)
        self.action_dim = int(action_dim)
        self.chunk = int(chunk)
        self.num_steps = int(num_steps)
        self.sampler = sampler
        self.noise_level = float(noise_level)
        self.sde_steps = sde_steps
        self.log_std_min = float(log_std_min)
        self.log_std_max = float(log_std_max)
        self.time_embed_dim = int(time_embed_dim)
        self.time_dist = time_dist

        flat = self.chunk * self.action_dim
        layers: list[nn.Module] = []
        dim = flat + self.time_embed_dim + self.cond_dim
        for size in hidden_sizes:
            layers += [nn.Linear(dim, int(size)), nn.SiLU()]
            dim = int(size)
        self.expert_trunk = nn.Sequential(*layers)
        self.expert_out = nn.Linear(dim, flat)
        self.feature_dim = dim
        self.noise_net: nn.Module | None = None
        if sampler == "noise":
            self.noise_net = nn.Sequential(
                nn.Linear(dim + self.time_embed_dim, int(noise_hidden_size)),
                nn.SiLU(),
                nn.Linear(int(noise_hidden_size), flat),
            )

    # ------------------------------------------------------------------ networks

    def _time_features(
        self, num_steps: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[Tensor, Tensor]:
        """``(grid [K+1], emb [K, E])``: the time grid and the embeddings of ``t_0 .. t_{K-1}``.

        Both sampling and :meth:`log_prob` take rows of this one ``emb`` tensor, so the time
        features are bitwise identical on both paths.
        """
        grid = time_grid(num_steps, device=device).to(dtype)
        return grid, sinusoidal_time_embedding(grid[:-1], self.time_embed_dim)

    def expert(self, x: Tensor, t_emb: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        """Velocity ``v(x_t, t | cond)``.

        Args:
            x: ``x_t``, ``[N, H, A]``.
            t_emb: time embedding, ``[N, E]``.
            cond: ``[N, cond_dim]``.

        Returns:
            ``(v [N, H, A], expert features [N, feature_dim])``.
        """
        h = self.expert_trunk(torch.cat([x.flatten(1), t_emb, cond], dim=-1))
        return self.expert_out(h).view_as(x), h

    def _noise_raw(self, features: Tensor, t_emb: Tensor) -> Tensor:
        """Raw (unbounded) Flow-Noise log-std, ``[N, H*A]``."""
        assert self.noise_net is not None
        return self.noise_net(torch.cat([features, t_emb], dim=-1))

    # ------------------------------------------------------------------ likelihood

    def _chain_log_prob(
        self,
        chain: Tensor,
        v: Tensor,
        raw: Tensor | None,
        stochastic: Tensor,
        grid: Tensor,
        with_entropy: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """``(log_prob [B, H, A], entropy [B, H, A] or None)`` of chains from their velocities.

        Formula (elementwise, ``S_b`` the stochastic steps of sample ``b``)::

            log_prob[b] = sum_{k in S_b} log N(x_{k+1}; mean_k, std_k^2)
            entropy[b]  = sum_{k in S_b} 0.5 * log(2 pi e std_k^2)

        The one code path shared by :meth:`sample` and :meth:`log_prob`, so both agree bitwise
        whenever the networks return bitwise-equal velocities. Tensors are step-major and
        contiguous (steps on dim 0): slices over steps stay contiguous and the per-step
        coefficients broadcast over whole blocks, which keeps these elementwise ops fast.

        Args:
            chain: contiguous ``[K+1, B, H, A]``.
            v: ``v(x_k, t_k)``, contiguous ``[K, B, H, A]``.
            raw: raw noise-net output, contiguous ``[K, B, H, A]`` (``"noise"``), else None.
            stochastic: bool ``[B, K]``.
            grid: time grid ``[K+1]``.
            with_entropy: also return the entropy.
        """
        if self.sampler == "ode":
            zeros = torch.zeros_like(chain[0])
            return zeros, (zeros.clone() if with_entropy else None)
        num_steps = chain.shape[0] - 1
        x_prev, x_next = chain[:-1], chain[1:]
        dt = -1.0 / num_steps
        if self.sampler == "noise":
            assert raw is not None
            log_std = bounded_log_std(raw, self.log_std_min, self.log_std_max)
            mean, std = flow_noise_transition(x_prev, v, dt, log_std)
        else:
            mean, std = sde_transition(x_prev, v, grid[:-1].view(num_steps, 1, 1, 1), dt, self.noise_level)
            log_std = std.log()
        # Both transitions have std > 0 on every step (t_k > 0 for k < K), so the terms of the
        # deterministic steps are finite and multiplying them by a 0 mask keeps values and
        # gradients finite (and is much cheaper than torch.where on CPU).
        mask = stochastic.t().to(chain.dtype).view(num_steps, -1, 1, 1)
        log_p = (gaussian_log_density(x_next, mean, std, log_std) * mask).sum(dim=0)
        if not with_entropy:
            return log_p, None
        entropy = (gaussian_entropy_elementwise(std) * mask).sum(dim=0)
        return log_p, entropy.expand_as(log_p)

    def log_prob(self, cond: Tensor, extras: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Exact log-likelihood of stored chains, with grad.

        All ``K`` transitions are recomputed in one batched expert call on ``K * B`` rows; only
        the stochastic ones (``extras["stochastic"]``) enter the sums. The densities go through
        the same code as in :meth:`sample`, so the result is bitwise :meth:`sample`'s log-prob
        whenever the networks give bitwise-equal rows for ``B``-row and ``K*B``-row batches.
        BLAS products need not (e.g. MKL for fewer than 4 rows, GPUs generally); the float32
        difference is then a few ``1e-6`` (amplified by ``1/std`` for small noise).

        Args:
            cond: ``[B, cond_dim]``.
            extras: from :meth:`sample` (``"chain"`` ``[B, K+1, H, A]``, ``"stochastic"`` ``[B, K]``).

        Returns:
            ``(log_prob [B, H, A], entropy [B, H, A])`` elementwise; see
            :func:`~embodied_rl.policies.heads.flow_math.aggregate_log_prob`.
        """
        chain = extras["chain"].to(cond.dtype)
        batch, num_steps = chain.shape[0], chain.shape[1] - 1
        if self.sampler == "ode":
            zeros = torch.zeros_like(chain[:, 0])
            return zeros, zeros.clone()
        grid, emb = self._time_features(num_steps, cond.device, cond.dtype)
        chain = chain.transpose(0, 1).contiguous()  # step-major [K+1, B, H, A]
        rows = num_steps * batch
        t_emb = emb.unsqueeze(1).expand(-1, batch, -1).reshape(rows, -1)
        cond_rows = cond.unsqueeze(0).expand(num_steps, -1, -1).reshape(rows, -1)
        v, features = self.expert(chain[:-1].reshape(rows, self.chunk, self.action_dim), t_emb, cond_rows)
        shape = (num_steps, batch, self.chunk, self.action_dim)
        raw = self._noise_raw(features, t_emb).view(shape) if self.sampler == "noise" else None
        log_p, entropy = self._chain_log_prob(chain, v.view(shape), raw, extras["stochastic"], grid)
        assert entropy is not None
        return log_p, entropy

    # ------------------------------------------------------------------ sampling

    def sample(
        self, cond: Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Sample action chunks and their exact elementwise log-likelihood.

        ``deterministic`` (or ``sampler="ode"``) integrates the plain ODE from random noise
        (log-prob zeros, no stochastic steps). The returned log-prob is computed from the
        velocities of the sampling pass itself (no extra expert call), through the same code
        as :meth:`log_prob`.

        Args:
            cond: ``[B, cond_dim]``.
            deterministic: no noise injection during denoising.
            generator: optional RNG for the noise, step choice and injected noise.

        Returns:
            ``(actions [B, H, A], log_prob [B, H, A], extras)``.
        """
        batch, num_steps = cond.shape[0], self.num_steps
        device, dtype = cond.device, cond.dtype
        mode = "ode" if deterministic else self.sampler
        grid, emb = self._time_features(num_steps, device, dtype)
        dt = -1.0 / num_steps

        sde_step = torch.full((batch,), -1, dtype=torch.long, device=device)
        if mode == "ode":
            stochastic = torch.zeros(batch, num_steps, dtype=torch.bool, device=device)
        elif mode == "sde" and self.sde_steps == "one":
            sde_step = torch.randint(0, num_steps, (batch,), generator=generator, device=device)
            stochastic = torch.arange(num_steps, device=device) == sde_step.unsqueeze(1)
        else:
            stochastic = torch.ones(batch, num_steps, dtype=torch.bool, device=device)

        shape = (batch, self.chunk, self.action_dim)
        x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        # Which steps any sample treats stochastically (one host sync per call, not per step).
        step_used = [False] * num_steps if mode == "ode" else stochastic.any(dim=0).tolist()
        every = mode != "ode" and bool(stochastic.all())
        times = time_grid(num_steps).tolist()
        chain, vs, raws = [x], [], []
        for k in range(num_steps):
            t_emb = emb[k].expand(batch, -1)
            v, features = self.expert(x, t_emb, cond)
            vs.append(v)
            if mode == "noise":
                raw = self._noise_raw(features, t_emb).view(shape)
                raws.append(raw)
            if not step_used[k]:
                x = ode_step(x, v, dt)
            else:
                if mode == "noise":
                    log_std = bounded_log_std(raw, self.log_std_min, self.log_std_max)
                    mean, std = flow_noise_transition(x, v, dt, log_std)
                else:
                    mean, std = sde_transition(x, v, times[k], dt, self.noise_level)
                z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
                x_noisy = mean + std * z
                x = (
                    x_noisy
                    if every
                    else torch.where(stochastic[:, k].view(-1, 1, 1), x_noisy, ode_step(x, v, dt))
                )
            chain.append(x)

        if mode == "ode":
            log_p = torch.zeros_like(x)
        else:
            raw_t = torch.stack(raws) if raws else None
            chain_t, v_t = torch.stack(chain), torch.stack(vs)
            log_p, _ = self._chain_log_prob(chain_t, v_t, raw_t, stochastic, grid, with_entropy=False)
        extras = {"chain": torch.stack(chain, dim=1), "stochastic": stochastic, "sde_step": sde_step}
        return x, log_p, extras

    def ode_sample(
        self,
        cond: Tensor,
        num_steps: int | None = None,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """Deterministic Euler ODE denoising (evaluation), pi0's sampler.

        Args:
            cond: ``[B, cond_dim]``.
            num_steps: ``K`` (default: the head's).
            generator: RNG for the initial noise (ignored when ``noise`` is given).
            noise: initial ``x_0`` ``[B, H, A]`` (default: ``N(0, I)``).

        Returns:
            actions ``[B, H, A]``.
        """
        num_steps = self.num_steps if num_steps is None else int(num_steps)
        _, emb = self._time_features(num_steps, cond.device, cond.dtype)
        batch = cond.shape[0]
        if noise is None:
            shape = (batch, self.chunk, self.action_dim)
            noise = torch.randn(shape, generator=generator, device=cond.device, dtype=cond.dtype)
        x, dt = noise.to(cond.dtype), -1.0 / num_steps
        for k in range(num_steps):
            v, _ = self.expert(x, emb[k].expand(batch, -1), cond)
            x = ode_step(x, v, dt)
        return x

    # ------------------------------------------------------------------ training

    def sft_loss(self, cond: Tensor, actions: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Flow-matching (behaviour cloning) loss on demonstration chunks.

        ``t ~ time_dist``, ``eps ~ N(0, I)``, ``x_t = (1 - t) a + t eps``,
        ``L = mean (v(x_t, t | cond) - (eps - a))^2``.

        Args:
            cond: ``[B, cond_dim]``.
            actions: ``[B, H, A]``.
            generator: optional RNG for ``t`` and ``eps``.

        Returns:
            0-d tensor.
        """
        actions = actions.to(cond.dtype)
        eps = torch.randn(actions.shape, generator=generator, device=actions.device, dtype=actions.dtype)
        t = sample_times(actions.shape[0], generator=generator, dist=self.time_dist, device=actions.device)
        t = t.to(actions.dtype)
        x_t = interpolate(actions, eps, t)
        v, _ = self.expert(x_t, sinusoidal_time_embedding(t, self.time_embed_dim), cond)
        return flow_matching_loss(v, actions, eps)
