"""Discrete action tokens (OpenVLA-style): binning, action-vocabulary logits, sampling and log-probs.

A continuous action ``a in R^A`` is discretised per dimension into ``n_bins`` uniform
bins over ``[low, high]`` (Brohan et al., RT-2; Kim et al., OpenVLA). A policy then
emits one categorical token per action dimension (and per step of an action chunk of
``H`` steps), so an action chunk is ``H * A`` tokens, ordered step-major::

    token t = h * A + j      (step h in [0, H), dimension j in [0, A))

Per-token log-probs have shape ``[B, H, A]``; :func:`aggregate` sums them to the level
the RL objective works at (per token, per action, per chunk).

Likelihood convention (shared with :mod:`embodied_rl.policies.heads.text`): the
log-prob of a token is always taken under the *temperature-scaled distribution over
the whole action vocabulary*, ``log_softmax(logits / T)``. ``top_k`` only restricts
*sampling*; it never enters a log-prob, so the rollout and the trainer compute
identical values from the same logits (first PPO ratio exactly 1). With ``top_k > 0``
the behaviour policy is therefore slightly off-policy w.r.t. the recorded
likelihoods, which is why ``top_k=0`` (off) is the default for RL.

Two ways to get bin logits:

* from a language model (OpenVLA): the last ``n_bins`` ids of the vocabulary are
  reserved for action bins (``token_offset = vocab_size - n_bins``, see
  :meth:`ActionTokenizer.for_vocab`); :func:`action_logits` slices them out of the
  LM logits (so no other token can be sampled) and :func:`mask_to_action_vocab`
  keeps the full vocabulary with every other id at ``-inf``;
* from :class:`ActionTokenHead`, a tiny transformer for backbones that are not
  language models, decoding the ``H * A`` tokens in parallel or autoregressively.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embodied_rl.algorithms.losses import categorical_entropy

__all__ = [
    "ActionTokenHead",
    "ActionTokenizer",
    "AggregateLevel",
    "Decoding",
    "action_logits",
    "aggregate",
    "bin_entropy",
    "bin_log_probs",
    "mask_to_action_vocab",
    "sample_bins",
]

AggregateLevel = Literal["dim", "action", "chunk"]
Decoding = Literal["parallel", "sequential"]
_LEVELS: tuple[str, ...] = ("dim", "action", "chunk")
_DECODINGS: tuple[str, ...] = ("parallel", "sequential")
ArrayLike = Tensor | np.ndarray | Sequence[float] | float


def _as_vector(x: ArrayLike, name: str) -> Tensor:
    """``x`` as a float64 CPU tensor of shape ``[A]`` (scalars become ``[1]``)."""
    if isinstance(x, Tensor):
        t = x.detach().to("cpu", torch.float64).clone()
    else:
        t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1:
        raise ValueError(f"ActionTokenizer: {name} must be 1-d [A], got shape {tuple(t.shape)}")
    return t


def _compute_dtype(device: torch.device) -> torch.dtype:
    """float64 where the device supports it (exact bin edges), else float32."""
    return torch.float32 if device.type == "mps" else torch.float64


class ActionTokenizer:
    """Per-dimension uniform binning of continuous actions into ``n_bins`` tokens.

    Bins (for each dimension ``j``; ``w_j = (high_j - low_j) / n_bins``)::

        encode(a)_j = clamp(floor((clip(a_j, low_j, high_j) - low_j) / w_j), 0, n_bins - 1)
        decode(b)_j = low_j + (b_j + 0.5) * w_j                     (bin centre)
        |decode(encode(a)) - clip(a)|_j <= w_j / 2                   (max_roundtrip_error)

    ``high`` itself falls into the last bin. Token ids are ``token_offset + bin``.
    Unlike OpenVLA (which uses ``n_bins`` edges, i.e. ``n_bins - 1`` bins, and maps
    bin ``b`` to id ``vocab_size - 1 - b``), ids here increase with the bin; a policy
    that loads OpenVLA weights must map ids accordingly.

    Args:
        low: lower bounds ``[A]``; finite.
        high: upper bounds ``[A]``; finite, ``low < high``.
        n_bins: bins per dimension.
        token_offset: id of bin 0 in the token vocabulary.

    Raises:
        ValueError: for non-finite bounds, ``low >= high``, mismatched shapes,
            ``n_bins < 1`` or a negative offset.
    """

    def __init__(self, low: ArrayLike, high: ArrayLike, n_bins: int = 256, token_offset: int = 0) -> None:
        low_t, high_t = _as_vector(low, "low"), _as_vector(high, "high")
        if low_t.shape != high_t.shape:
            raise ValueError(
                f"ActionTokenizer: low {tuple(low_t.shape)} and high {tuple(high_t.shape)} differ"
            )
        if not (torch.isfinite(low_t).all() and torch.isfinite(high_t).all()):
            raise ValueError("ActionTokenizer: low and high must be finite (see from_space)")
        if not (low_t < high_t).all():
            raise ValueError(
                f"ActionTokenizer: need low < high, got low={low_t.tolist()}, high={high_t.tolist()}"
            )
        if int(n_bins) < 1:
            raise ValueError(f"ActionTokenizer: n_bins must be >= 1, got {n_bins}")
        if int(token_offset) < 0:
            raise ValueError(f"ActionTokenizer: token_offset must be >= 0, got {token_offset}")
        self.low: Tensor = low_t
        self.high: Tensor = high_t
        self.n_bins: int = int(n_bins)
        self.token_offset: int = int(token_offset)

    # -- construction -------------------------------------------------------------------------------------

    @classmethod
    def from_space(
        cls, box: Any, n_bins: int = 256, token_offset: int = 0, default_range: float = 1.0
    ) -> ActionTokenizer:
        """From a ``gymnasium.spaces.Box``-like object (``.low``, ``.high``).

        Infinite bounds are replaced by ``-default_range`` / ``+default_range``.
        """
        low = np.asarray(box.low, dtype=np.float64).reshape(-1).copy()
        high = np.asarray(box.high, dtype=np.float64).reshape(-1).copy()
        low[~np.isfinite(low)] = -float(default_range)
        high[~np.isfinite(high)] = float(default_range)
        return cls(low, high, n_bins=n_bins, token_offset=token_offset)

    @classmethod
    def from_dataset(
        cls,
        actions: ArrayLike,
        quantile: float = 0.01,
        n_bins: int = 256,
        token_offset: int = 0,
        min_width: float = 1e-6,
    ) -> ActionTokenizer:
        """Bounds from the ``quantile`` / ``1 - quantile`` quantiles of a dataset (OpenVLA: 1st / 99th).

        Formula (per dimension ``j``)::

            low_j  = Q_q(actions[:, j]),   high_j = Q_{1-q}(actions[:, j])

        A dimension with ``high_j - low_j < min_width`` (e.g. constant) is widened
        symmetrically to ``min_width`` so the bins stay valid. Actions outside the
        quantile range are clipped into the edge bins by :meth:`encode`.

        Args:
            actions: ``[N, A]``.
            quantile: ``q`` in ``[0, 0.5)``; 0 gives min / max.
        """
        if not 0.0 <= quantile < 0.5:
            raise ValueError(f"ActionTokenizer.from_dataset: quantile must be in [0, 0.5), got {quantile}")
        if isinstance(actions, Tensor):
            actions = actions.detach().to("cpu", torch.float64).numpy()
        data = np.asarray(actions, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] == 0:
            raise ValueError(f"ActionTokenizer.from_dataset: actions must be [N>0, A], got {data.shape}")
        low = np.quantile(data, quantile, axis=0)
        high = np.quantile(data, 1.0 - quantile, axis=0)
        mid, width = 0.5 * (low + high), np.maximum(high - low, min_width)
        return cls(mid - 0.5 * width, mid + 0.5 * width, n_bins=n_bins, token_offset=token_offset)

    @classmethod
    def for_vocab(
        cls, vocab_size: int, low: ArrayLike, high: ArrayLike, n_bins: int = 256
    ) -> ActionTokenizer:
        """OpenVLA layout: the last ``n_bins`` ids of an LM vocabulary are the action bins.

        ``token_offset = vocab_size - n_bins``. Use the size of the model's logits
        (``lm_head.out_features``), which may exceed ``len(tokenizer)``.
        """
        if vocab_size < n_bins:
            raise ValueError(f"ActionTokenizer.for_vocab: vocab_size {vocab_size} < n_bins {n_bins}")
        return cls(low, high, n_bins=n_bins, token_offset=vocab_size - n_bins)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python state (JSON / config friendly); inverse of :meth:`from_dict`."""
        return {
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "n_bins": self.n_bins,
            "token_offset": self.token_offset,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ActionTokenizer:
        return cls(
            state["low"], state["high"], n_bins=state["n_bins"], token_offset=state.get("token_offset", 0)
        )

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def action_dim(self) -> int:
        return int(self.low.shape[0])

    @property
    def bin_width(self) -> Tensor:
        """``(high - low) / n_bins``, float64 ``[A]``."""
        return (self.high - self.low) / self.n_bins

    def max_roundtrip_error(self) -> Tensor:
        """Half a bin width per dimension, float64 ``[A]``: the bound on ``|decode(encode(a)) - a|``."""
        return 0.5 * self.bin_width

    # -- conversions --------------------------------------------------------------------------------------

    def encode(self, actions: ArrayLike) -> Tensor:
        """Continuous actions ``[..., A]`` -> bin indices ``[..., A]`` (long, in ``[0, n_bins)``)."""
        x = torch.as_tensor(actions)
        if x.shape[-1:] != self.low.shape:
            raise ValueError(
                f"ActionTokenizer.encode: last dim must be {self.action_dim}, got {tuple(x.shape)}"
            )
        dtype = _compute_dtype(x.device)
        low, high = self.low.to(x.device, dtype), self.high.to(x.device, dtype)
        x = torch.minimum(torch.maximum(x.to(dtype), low), high)
        bins = torch.floor((x - low) / (high - low) * self.n_bins)
        return bins.clamp(0, self.n_bins - 1).long()

    def decode(self, bins: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Bin indices ``[..., A]`` -> bin centres ``[..., A]`` in ``dtype``."""
        bins = torch.as_tensor(bins)
        compute = _compute_dtype(bins.device)
        low, high = self.low.to(bins.device, compute), self.high.to(bins.device, compute)
        centres = low + (bins.clamp(0, self.n_bins - 1).to(compute) + 0.5) * ((high - low) / self.n_bins)
        return centres.to(dtype)

    def to_tokens(self, bins: Tensor) -> Tensor:
        """``token_offset + bins`` (long)."""
        return torch.as_tensor(bins).long() + self.token_offset

    def from_tokens(self, token_ids: Tensor) -> Tensor:
        """``token_ids - token_offset`` (long).

        Raises:
            ValueError: if an id lies outside ``[token_offset, token_offset + n_bins)``.
        """
        bins = torch.as_tensor(token_ids).long() - self.token_offset
        if bins.numel() and (bins.min() < 0 or bins.max() >= self.n_bins):
            raise ValueError(
                f"ActionTokenizer.from_tokens: ids outside the action vocabulary "
                f"[{self.token_offset}, {self.token_offset + self.n_bins})"
            )
        return bins

    def __repr__(self) -> str:
        return f"ActionTokenizer(action_dim={self.action_dim}, n_bins={self.n_bins}, token_offset={self.token_offset})"


# -- logits over the action vocabulary --------------------------------------------------------------------


def _check_vocab(logits: Tensor, token_offset: int, n_bins: int, fn: str) -> None:
    vocab = logits.shape[-1]
    if token_offset < 0 or n_bins < 1 or token_offset + n_bins > vocab:
        raise ValueError(
            f"{fn}: ids [{token_offset}, {token_offset + n_bins}) do not fit a vocabulary of {vocab}"
        )


def action_logits(logits: Tensor, token_offset: int, n_bins: int) -> Tensor:
    """Restrict LM logits to the action vocabulary (a slice; index ``b`` is bin ``b``).

    Formula::

        bin_logits[..., b] = logits[..., token_offset + b],   b in [0, n_bins)

    Sampling from the result can only give action bins; the softmax over it is the
    LM distribution conditioned on emitting an action token.

    Args:
        logits: ``[..., V]``.

    Returns:
        ``[..., n_bins]`` (a view).
    """
    _check_vocab(logits, token_offset, n_bins, "action_logits")
    return logits[..., token_offset : token_offset + n_bins]


def mask_to_action_vocab(logits: Tensor, token_offset: int, n_bins: int) -> Tensor:
    """Full-vocabulary logits with every non-action id set to ``-inf``.

    ``softmax(mask_to_action_vocab(l))[token_offset + b] == softmax(action_logits(l))[b]``
    and every other id has probability exactly 0.

    Args:
        logits: ``[..., V]``.

    Returns:
        ``[..., V]`` (new tensor).
    """
    _check_vocab(logits, token_offset, n_bins, "mask_to_action_vocab")
    ids = torch.arange(logits.shape[-1], device=logits.device)
    keep = (ids >= token_offset) & (ids < token_offset + n_bins)
    return logits.masked_fill(~keep, float("-inf"))


# -- sampling and likelihood --------------------------------------------------------------------------------


def _check_temperature(temperature: float) -> None:
    if not temperature > 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def sample_bins(
    bin_logits: Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample one index per row from logits over the last dimension (any categorical, e.g. bins or tokens).

    Formula::

        deterministic:  b = argmax(l)
        otherwise:      b ~ softmax(l' / T),  l'_c = l_c if c in top_k(l) else -inf   (top_k = 0: l' = l)

    ``top_k`` only shapes sampling; :func:`bin_log_probs` ignores it (module docstring).

    Args:
        bin_logits: ``[..., K]``.
        temperature: ``T > 0``; ignored when deterministic.
        top_k: keep the ``top_k`` largest logits (exactly ``top_k``, ties broken by
            index); ``0`` or ``>= K`` keeps all.
        deterministic: greedy argmax.
        generator: RNG for reproducible sampling.

    Returns:
        long ``[...]``.
    """
    if deterministic:
        return bin_logits.argmax(dim=-1)
    _check_temperature(temperature)
    if top_k < 0:
        raise ValueError(f"sample_bins: top_k must be >= 0, got {top_k}")
    num_classes = bin_logits.shape[-1]
    flat = bin_logits.detach().reshape(-1, num_classes).float() / temperature
    if 0 < top_k < num_classes:
        top = flat.topk(top_k, dim=-1).indices
        keep = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, top, True)
        flat = flat.masked_fill(~keep, float("-inf"))
    probs = torch.softmax(flat, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).reshape(bin_logits.shape[:-1])


def bin_log_probs(bin_logits: Tensor, bins: Tensor, temperature: float = 1.0) -> Tensor:
    """Log-prob of chosen indices under the temperature-scaled distribution.

    Formula::

        log p(b) = log_softmax(l / T)[b]

    Equals ``Categorical(logits=l / T).log_prob(b)``; computed in at least float32.

    Args:
        bin_logits: ``[..., K]``.
        bins: long ``[...]``.

    Returns:
        ``[...]``.
    """
    _check_temperature(temperature)
    log_probs = torch.log_softmax(bin_logits.float() / temperature, dim=-1)
    return log_probs.gather(-1, bins.long().unsqueeze(-1)).squeeze(-1)


def bin_entropy(bin_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Entropy of ``softmax(l / T)``: ``H = -sum_c p_c log p_c``.

    Args:
        bin_logits: ``[..., K]``.

    Returns:
        ``[...]``.
    """
    _check_temperature(temperature)
    return categorical_entropy(bin_logits.float() / temperature)


def aggregate(per_token: Tensor, level: AggregateLevel) -> Tensor:
    """Sum per-token quantities (log-probs, entropies) ``[B, H, A]`` to a level.

    Formula::

        "dim":    x[b, h, j]                     -> [B, H, A]   (token-level ratios)
        "action": sum_j x[b, h, j]               -> [B, H]      (one ratio per action step)
        "chunk":  sum_{h, j} x[b, h, j]          -> [B]         (one ratio per chunk)

    Raises:
        ValueError: for another level or a tensor that is not 3-d.
    """
    if per_token.ndim != 3:
        raise ValueError(f"aggregate: expected [B, H, A], got shape {tuple(per_token.shape)}")
    if level == "dim":
        return per_token
    if level == "action":
        return per_token.sum(dim=-1)
    if level == "chunk":
        return per_token.sum(dim=(-2, -1))
    raise ValueError(f"aggregate: unknown level {level!r}; allowed values: {_LEVELS}")


# -- a tiny autoregressive / parallel token head ------------------------------------------------------------


class _Block(nn.Module):
    """Pre-LN transformer block (self-attention + MLP), no dropout.

    Hand-written rather than ``nn.TransformerEncoderLayer`` so the same code path (no
    inference "fast path") runs with and without grad: sampling and training then
    compute bit-identical logits.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"ActionTokenHead: embed_dim {dim} not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, causal: bool) -> Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(batch, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.proj(attn.transpose(1, 2).reshape(batch, length, dim))
        return x + self.mlp(self.norm2(x))


class ActionTokenHead(nn.Module):
    """Action-token policy head on top of a feature vector (for backbones that are not LMs).

    Emits ``L = chunk * action_dim`` categorical tokens over ``n_bins`` bins
    (step-major order, module docstring) with a tiny transformer of width ``embed_dim``:

    * ``"parallel"`` (OpenVLA-OFT style): the input is ``[c, q_0, ..., q_{L-1}]``,
      with ``c = W_c cond + p_0`` and ``q_t`` learned query embeddings; attention is
      bidirectional and the output at ``q_t`` gives the logits of token ``t``. All
      tokens are conditionally independent given ``cond``; one pass samples or scores
      a chunk.
    * ``"sequential"`` (autoregressive, RT-2 / OpenVLA style): the input is
      ``[c, e(b_0) + p_1, ..., e(b_{L-2}) + p_{L-1}]`` with a causal mask (``e`` the
      bin embedding, ``p_t`` the embedding of target position ``t``); the output at
      position ``t`` gives the logits of token ``t`` given ``cond`` and ``b_{<t}``.
      Sampling runs ``L`` passes (no grad), then recomputes every log-prob with the
      same teacher-forced pass :meth:`log_prob` uses, so both agree exactly.

    Log-probs and entropies are per token ``[B, H, A]`` under ``softmax(logits / T)``;
    ``top_k`` only restricts sampling (module docstring). Sum them with
    :func:`aggregate`. Action bounds are stored as buffers (``low`` / ``high``) so
    they travel with the ``state_dict``; :attr:`tokenizer` is rebuilt from them.

    Args:
        cond_dim: size of the conditioning features.
        action_dim: ``A``.
        chunk: ``H``, actions per chunk.
        n_bins: bins per dimension.
        decoding: ``"parallel"`` or ``"sequential"``.
        embed_dim, num_layers, num_heads: transformer size.
        temperature: sampling / likelihood temperature ``T``.
        top_k: sampling-only top-k (0 = off).
        tokenizer: an :class:`ActionTokenizer`; overrides ``low`` / ``high``.
        low, high: action bounds when no tokenizer is given (scalars broadcast).
    """

    def __init__(
        self,
        cond_dim: int,
        action_dim: int,
        chunk: int = 1,
        n_bins: int = 256,
        decoding: Decoding = "parallel",
        embed_dim: int = 64,
        num_layers: int = 1,
        num_heads: int = 2,
        temperature: float = 1.0,
        top_k: int = 0,
        tokenizer: ActionTokenizer | None = None,
        low: ArrayLike = -1.0,
        high: ArrayLike = 1.0,
    ) -> None:
        super().__init__()
        if decoding not in _DECODINGS:
            raise ValueError(f"ActionTokenHead: unknown decoding {decoding!r}; allowed values: {_DECODINGS}")
        if chunk < 1 or action_dim < 1 or num_layers < 1:
            raise ValueError("ActionTokenHead: chunk, action_dim and num_layers must be >= 1")
        _check_temperature(temperature)
        if tokenizer is None:
            low_t, high_t = _as_vector(low, "low"), _as_vector(high, "high")
            tokenizer = ActionTokenizer(
                low_t.expand(action_dim) if low_t.numel() == 1 else low_t,
                high_t.expand(action_dim) if high_t.numel() == 1 else high_t,
                n_bins=n_bins,
            )
        if tokenizer.action_dim != action_dim or tokenizer.n_bins != n_bins:
            raise ValueError(
                f"ActionTokenHead: tokenizer has action_dim={tokenizer.action_dim}, n_bins={tokenizer.n_bins}; "
                f"expected {action_dim}, {n_bins}"
            )
        self.action_dim, self.chunk, self.n_bins = action_dim, chunk, n_bins
        self.num_tokens = chunk * action_dim
        self.decoding: Decoding = decoding
        self.temperature, self.top_k = float(temperature), int(top_k)
        self.register_buffer("low", tokenizer.low.clone())
        self.register_buffer("high", tokenizer.high.clone())

        self.cond_proj = nn.Linear(cond_dim, embed_dim)
        self.pos = nn.Parameter(torch.randn(self.num_tokens, embed_dim) * 0.02)
        if decoding == "parallel":
            self.queries = nn.Parameter(torch.randn(self.num_tokens, embed_dim) * 0.02)
        else:
            self.bin_embed = nn.Embedding(n_bins, embed_dim)
        self.blocks = nn.ModuleList(_Block(embed_dim, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dim)
        self.out = nn.Linear(embed_dim, n_bins)

    @property
    def tokenizer(self) -> ActionTokenizer:
        return ActionTokenizer(self.low, self.high, n_bins=self.n_bins)

    def _trunk(self, x: Tensor, causal: bool) -> Tensor:
        for block in self.blocks:
            x = block(x, causal)
        return self.out(self.norm(x))

    def logits(self, cond: Tensor, bins: Tensor | None = None) -> Tensor:
        """Bin logits ``[B, H, A, n_bins]`` (one pass; teacher-forced on ``bins`` when sequential).

        Args:
            cond: ``[B, C]``.
            bins: long ``[B, H, A]``; required for "sequential", ignored for "parallel".
        """
        batch = cond.shape[0]
        c = (self.cond_proj(cond) + self.pos[0]).unsqueeze(1)
        if self.decoding == "parallel":
            x = torch.cat([c, self.queries.unsqueeze(0).expand(batch, -1, -1)], dim=1)
            logits = self._trunk(x, causal=False)[:, 1:]
        else:
            if bins is None:
                raise ValueError(
                    "ActionTokenHead.logits: sequential decoding needs the bins to teacher-force"
                )
            prev = self.bin_embed(bins.reshape(batch, -1)[:, :-1].long()) + self.pos[1:]
            logits = self._trunk(torch.cat([c, prev], dim=1), causal=True)
        return logits.reshape(batch, self.chunk, self.action_dim, self.n_bins)

    @torch.no_grad()
    def _sample_sequential(
        self, cond: Tensor, deterministic: bool, generator: torch.Generator | None
    ) -> Tensor:
        batch = cond.shape[0]
        x = (self.cond_proj(cond) + self.pos[0]).unsqueeze(1)
        bins = []
        for t in range(self.num_tokens):
            step_logits = self._trunk(x, causal=True)[:, -1]
            b = sample_bins(step_logits, self.temperature, self.top_k, deterministic, generator)
            bins.append(b)
            if t + 1 < self.num_tokens:
                x = torch.cat([x, (self.bin_embed(b) + self.pos[t + 1]).unsqueeze(1)], dim=1)
        return torch.stack(bins, dim=1).reshape(batch, self.chunk, self.action_dim)

    def sample(
        self, cond: Tensor, deterministic: bool = False, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """``(actions [B, H, A] bin centres, log_prob [B, H, A] per token, {"action_bins": long [B, H, A]})``."""
        if self.decoding == "parallel":
            logits = self.logits(cond)
            bins = sample_bins(logits, self.temperature, self.top_k, deterministic, generator)
        else:
            bins = self._sample_sequential(cond, deterministic, generator)
            logits = self.logits(cond, bins)
        log_prob = bin_log_probs(logits, bins, self.temperature)
        actions = self.tokenizer.decode(bins, dtype=cond.dtype if cond.is_floating_point() else torch.float32)
        return actions, log_prob, {"action_bins": bins}

    def log_prob(self, cond: Tensor, extras: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(log_prob [B, H, A], entropy [B, H, A])`` of ``extras["action_bins"]``, with grad."""
        bins = extras["action_bins"].long()
        logits = self.logits(cond, bins)
        return bin_log_probs(logits, bins, self.temperature), bin_entropy(logits, self.temperature)

    def sft_loss(self, cond: Tensor, actions: Tensor) -> Tensor:
        """Token cross-entropy on the encoded bins of ``actions [B, H, A]`` (teacher forcing, ``T = 1``).

        Formula::

            loss = -mean_{b, h, j} log_softmax(logits)[bin(a)_{b, h, j}]
        """
        bins = self.tokenizer.encode(actions).to(cond.device)
        logits = self.logits(cond, bins)
        return F.cross_entropy(logits.reshape(-1, self.n_bins).float(), bins.reshape(-1))
