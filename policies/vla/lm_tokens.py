"""Action tokens read from a language model's own vocabulary (OpenVLA / OpenVLA-OFT).

Each action dimension is binned (:class:`ActionTokenizer`, ``n_bins`` uniform bins over
the normalised range [-1, 1]) and bin ``k`` is the LM token ``vocab_size - n_bins + k``:
the last ``n_bins`` ids are reserved for actions, as in OpenVLA. Logits are sliced to
those ids, so a non-action token can never be sampled.

- **sequential** decoding appends one action token at a time after the prompt; token
  ``t`` is predicted by the logits at the position before it. Sampling runs ``L``
  forward passes, then one teacher-forced pass over prompt + all ``L`` tokens gives the
  log-probs, the same pass :meth:`LMActionTokens.log_prob` runs at training time.
- **parallel** decoding (OFT) appends ``L`` placeholder tokens (the pad id) and reads
  token ``t``'s logits at placeholder ``t``: one pass for a whole chunk.

Rows are right-padded and the backbone inserts the suffix right after each row's
prompt, so results do not depend on how rows are batched.
"""

from __future__ import annotations

from typing import Any

import torch
from embodied_rl.policies.heads.action_tokens import (
    ActionTokenizer,
    action_logits,
    bin_entropy,
    bin_log_probs,
    sample_bins,
)
from embodied_rl.policies.vla.config import TokenHeadConfig


class LMActionTokens:
    """Sampling and scoring of action tokens through an :class:`HFBackbone` (holds no parameters)."""

    def __init__(
        self, vocab_size: int, pad_id: int, action_dim: int, chunk: int, config: TokenHeadConfig
    ) -> None:
        if vocab_size <= config.n_bins:
            raise ValueError(f"the LM vocabulary ({vocab_size}) is too small for {config.n_bins} action bins")
        self.config = config
        self.num_tokens = action_dim * chunk
        self.tokenizer = ActionTokenizer(
            -torch.ones(action_dim), torch.ones(action_dim), config.n_bins, vocab_size - config.n_bins
        )
        self.pad_id = pad_id

    def _bin_logits(self, output: Any, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, L, n_bins]`` logits of the L action tokens from a forward pass with a suffix."""
        steps = torch.arange(self.num_tokens, device=lengths.device)
        # parallel: the placeholder at position len + t predicts token t; sequential: the position before it.
        offset = 0 if self.config.decoding == "parallel" else -1
        pos = lengths[:, None] + steps[None] + offset
        logits = output.logits.gather(1, pos[..., None].expand(-1, -1, output.logits.shape[-1]))
        return action_logits(logits.float(), self.tokenizer.token_offset, self.tokenizer.n_bins)

    def _suffix(self, bins: torch.Tensor) -> torch.Tensor:
        if self.config.decoding == "parallel":
            return torch.full_like(bins, self.pad_id)
        return self.tokenizer.to_tokens(bins)

    @torch.no_grad()
    def sample(
        self,
        backbone: Any,
        inputs: Any,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """``(bins [B, L], log_prob [B, L], output of the scoring pass)``."""
        lengths = inputs.lengths
        batch = lengths.shape[0]
        cfg = self.config
        if cfg.decoding == "sequential":
            bins = torch.zeros(batch, 0, dtype=torch.long, device=lengths.device)
            for t in range(self.num_tokens):
                out = backbone.forward(inputs, suffix_ids=self.tokenizer.to_tokens(bins) if t else None)
                logits = out.logits[torch.arange(batch), lengths - 1 + t]
                step_logits = action_logits(
                    logits.float(), self.tokenizer.token_offset, self.tokenizer.n_bins
                )
                nxt = sample_bins(step_logits, cfg.temperature, cfg.top_k, deterministic, generator)
                bins = torch.cat([bins, nxt[:, None]], 1)
        else:
            placeholder = torch.full(
                (batch, self.num_tokens), self.pad_id, dtype=torch.long, device=lengths.device
            )
            out = backbone.forward(inputs, suffix_ids=placeholder)
            logits = self._bin_logits(out, lengths)  # the scoring pass is this same pass
            bins = sample_bins(logits, cfg.temperature, cfg.top_k, deterministic, generator)
            return bins, bin_log_probs(logits, bins, cfg.temperature), out
        log_prob, _, out = self.log_prob(backbone, inputs, bins)
        return bins, log_prob, out

    def log_prob(
        self, backbone: Any, inputs: Any, bins: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """``(log_prob [B, L], entropy [B, L], output)`` of given bins: one teacher-forced pass."""
        out = backbone.forward(inputs, suffix_ids=self._suffix(bins))
        logits = self._bin_logits(out, inputs.lengths)
        t = self.config.temperature
        return bin_log_probs(logits, bins, t), bin_entropy(logits, t), out

    def sft_loss(self, backbone: Any, inputs: Any, bins: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Token cross-entropy of expert bins (teacher forcing), and the forward output."""
        out = backbone.forward(inputs, suffix_ids=self._suffix(bins))
        logits = self._bin_logits(out, inputs.lengths)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), bins.reshape(-1))
        return loss, out
