"""Free-text head for GUI / tool agents: batched generation with log-probs, re-scoring, multi-turn masks.

Works with any HuggingFace causal LM (transformers 5.x) or any callable with the same
call signature::

    model(input_ids=[B, L] long, attention_mask=[B, L] long, position_ids=[B, L] long,
          past_key_values=cache | None, use_cache=bool) -> output

where ``output`` is the logits ``[B, L, V]`` or an object with ``.logits`` (and,
when ``use_cache=True``, ``.past_key_values``). A model that returns no cache is
re-run on the whole sequence at every generation step.

Conventions shared by :func:`generate` and :func:`sequence_log_probs`, so that the
log-probs recorded at rollout time equal the ones recomputed by the trainer (first
PPO ratio 1, up to float error):

* positions come from the attention mask, not from the padded index:
  ``position_ids = clamp(cumsum(attention_mask) - 1, min=0)`` (:func:`position_ids_from_mask`),
  so left and right padding give the same logits for the real tokens;
* the log-prob of a token is taken under the *temperature-scaled, full-vocabulary*
  distribution ``log_softmax(logits / T)`` in float32. ``top_k`` only restricts
  sampling (as in :mod:`embodied_rl.policies.heads.action_tokens`); keep it at 0
  (off) for on-policy RL. Greedy decoding (``deterministic=True``) picks
  ``argmax(logits)`` and still records ``log_softmax(logits / T)`` of it;
* the model must behave the same in both calls (e.g. no active dropout).

Multi-turn episodes (prompt, generated action, tool result / observation, generated
action, ...) are flattened with :func:`build_multiturn`: only generated turns enter
the loss mask. Feed back the *generated token ids* (:meth:`GenerationOutput.generated`),
not a re-tokenisation of the text, or the recomputed log-probs will not match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from embodied_rl.policies.heads.action_tokens import sample_bins
from torch import Tensor

from embodied_rl.algorithms.losses import categorical_entropy

__all__ = [
    "FinishReason",
    "GenerationOutput",
    "build_multiturn",
    "generate",
    "pad_batch",
    "position_ids_from_mask",
    "sequence_log_probs",
]

FinishReason = Literal["stop", "eos", "length"]


@dataclass
class GenerationOutput:
    """Result of :func:`generate` for ``B`` prompts; ``T`` is the longest generation in the batch.

    Attributes:
        token_ids: long ``[B, T]``, generated ids, right-padded with the pad id.
        log_probs: float32 ``[B, T]``, ``log_softmax(logits / T)`` of each generated
            token under the full vocabulary; 0 on padding.
        mask: bool ``[B, T]``, True on generated tokens (including a final eos or
            stop-string token).
        texts: decoded generated text per row. An eos token is not included; a
            stop string is included and anything the last token decodes to after
            the first stop string is cut (the tokens are not).
        finish_reason: ``"stop"`` (a stop string appeared), ``"eos"`` or ``"length"``.
    """

    token_ids: Tensor
    log_probs: Tensor
    mask: Tensor
    texts: list[str]
    finish_reason: list[str]

    def generated(self, row: int) -> list[int]:
        """The generated token ids of one row (the ``mask``-True prefix), for the next turn."""
        return self.token_ids[row][self.mask[row]].tolist()


# -- padding and positions ----------------------------------------------------------------------------------


def position_ids_from_mask(attention_mask: Tensor) -> Tensor:
    """Positions that ignore padding: ``clamp(cumsum(attention_mask, -1) - 1, min=0)``.

    Args:
        attention_mask: ``[B, L]`` (bool or 0/1).

    Returns:
        long ``[B, L]``; the first real token of each row is at position 0.
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def pad_batch(
    seqs: Sequence[Sequence[int]],
    masks: Sequence[Sequence[bool]] | None,
    pad_id: int,
    side: Literal["left", "right"] = "right",
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Pad token sequences (and their loss masks) to a batch.

    Args:
        seqs: ``B`` lists of token ids.
        masks: ``B`` lists of bools (same lengths as ``seqs``), or None for all False.
        pad_id: id written on padding.
        side: "right" (training) or "left" (generation).

    Returns:
        ``(input_ids long [B, L], attention_mask long [B, L], loss_mask bool [B, L])``
        with ``L = max(len(s))``; padding has attention 0 and loss mask False.

    Raises:
        ValueError: for mismatched lengths or an unknown side.
    """
    if side not in ("left", "right"):
        raise ValueError(f"pad_batch: side must be 'left' or 'right', got {side!r}")
    if masks is not None and (
        len(masks) != len(seqs) or any(len(m) != len(s) for m, s in zip(masks, seqs, strict=True))
    ):
        raise ValueError("pad_batch: masks must have the same lengths as seqs")
    length = max((len(s) for s in seqs), default=0)
    input_ids = torch.full((len(seqs), length), int(pad_id), dtype=torch.long)
    attention_mask = torch.zeros((len(seqs), length), dtype=torch.long)
    loss_mask = torch.zeros((len(seqs), length), dtype=torch.bool)
    for i, seq in enumerate(seqs):
        n = len(seq)
        if n == 0:
            continue
        cols = slice(0, n) if side == "right" else slice(length - n, length)
        input_ids[i, cols] = torch.as_tensor(list(seq), dtype=torch.long)
        attention_mask[i, cols] = 1
        if masks is not None:
            loss_mask[i, cols] = torch.as_tensor(list(masks[i]), dtype=torch.bool)
    return input_ids.to(device), attention_mask.to(device), loss_mask.to(device)


def build_multiturn(
    turns: Sequence[tuple[Sequence[int], bool]], max_length: int | None = None
) -> tuple[list[int], list[bool]]:
    """Flatten an episode of turns into one token sequence and its loss mask.

    Each turn is ``(token_ids, generated)``. Generated turns (the policy's own
    tokens, e.g. :meth:`GenerationOutput.generated`) are in the loss mask; prompt,
    observation and tool-result turns never are::

        input_ids = concat(turn ids),   loss_mask = concat([generated] * len(turn ids))

    Args:
        turns: ``[(ids, generated), ...]`` in episode order.
        max_length: keep only the first ``max_length`` tokens (later turns are cut,
            the prompt is kept).

    Returns:
        ``(input_ids, loss_mask)`` as Python lists of equal length.
    """
    input_ids: list[int] = []
    loss_mask: list[bool] = []
    for ids, generated in turns:
        input_ids.extend(int(t) for t in ids)
        loss_mask.extend([bool(generated)] * len(ids))
    if max_length is not None:
        input_ids, loss_mask = input_ids[:max_length], loss_mask[:max_length]
    return input_ids, loss_mask


# -- model calls ----------------------------------------------------------------------------------------------


def _model_device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    if isinstance(model, torch.nn.Module):
        for param in model.parameters():
            return param.device
    return torch.device("cpu")


def _forward(
    model: Any,
    input_ids: Tensor,
    attention_mask: Tensor,
    position_ids: Tensor,
    past_key_values: Any = None,
    use_cache: bool = False,
) -> tuple[Tensor, Any]:
    """``(logits [B, L, V], cache or None)`` for the model-call protocol in the module docstring."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        past_key_values=past_key_values,
        use_cache=use_cache,
    )
    if isinstance(out, Tensor):
        return out, None
    # transformers' ModelOutput is a dict subclass with attribute access; plain dicts work too.
    if isinstance(out, dict):
        return out["logits"], out.get("past_key_values") if use_cache else None
    return out.logits, getattr(out, "past_key_values", None) if use_cache else None


def _token_log_probs(logits: Tensor, tokens: Tensor, temperature: float) -> Tensor:
    """``log_softmax(logits / T)[tokens]`` in float32; ``logits [N, V]``, ``tokens [N]``."""
    log_probs = torch.log_softmax(logits.float() / temperature, dim=-1)
    return log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def _decode(tokenizer: Any, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False)


def _first_stop_end(text: str, stop_strings: Sequence[str]) -> int | None:
    """End index of the earliest-ending stop string occurrence in ``text``, or None."""
    ends = [text.find(s) + len(s) for s in stop_strings if s in text]
    return min(ends) if ends else None


# -- generation ------------------------------------------------------------------------------------------------


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_strings: Sequence[str] = (),
    temperature: float = 1.0,
    top_k: int = 0,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
    *,
    eos_token_id: int | Sequence[int] | None = None,
    pad_token_id: int | None = None,
    use_cache: bool = True,
) -> GenerationOutput:
    """Sample continuations of a batch of token-id prompts, recording per-token log-probs.

    Prompts are left-padded with ``attention_mask`` 0 and ``position_ids`` from
    :func:`position_ids_from_mask`, so a row's tokens and log-probs do not depend on
    the other rows. With ``use_cache`` the prompt is encoded once and each step feeds
    one token with ``past_key_values``; a model that returns no cache is re-run on
    the full sequence every step (same results). Per step and row::

        x_t ~ softmax(top_k(l_t) / T)      (argmax(l_t) when deterministic)
        log_prob_t = log_softmax(l_t / T)[x_t]

    A row stops (and then emits padding) after an eos token, when its decoded
    generated text contains a stop string, or after ``max_new_tokens`` tokens.
    Stop strings are matched on the text decoded from the generated tokens only
    (not the prompt); a stop string may span several tokens. Only the tail of the
    generation long enough to hold the longest stop string is decoded each step.

    Args:
        model: causal LM or callable (module docstring); put it in eval mode.
        tokenizer: has ``decode(ids, skip_special_tokens=...)``, ``eos_token_id``, ``pad_token_id``.
        prompts: ``B`` non-empty lists of token ids (e.g. from ``apply_chat_template``).
        max_new_tokens: maximum generated tokens per row.
        stop_strings: non-empty strings that end a row.
        temperature: ``T > 0`` (also used for the recorded log-probs when greedy).
        top_k: sampling-only top-k, 0 = off.
        deterministic: greedy decoding.
        generator: RNG for reproducible sampling (must be on the model's device).
        eos_token_id: id(s) that end a row; defaults to ``tokenizer.eos_token_id``.
        pad_token_id: padding id; defaults to the tokenizer's pad, else eos, else 0.
        use_cache: use the model's KV cache when it returns one.

    Returns:
        :class:`GenerationOutput`.

    Raises:
        ValueError: for an empty prompt or stop string, ``max_new_tokens < 0`` or ``T <= 0``.
    """
    if not temperature > 0.0:
        raise ValueError(f"generate: temperature must be > 0, got {temperature}")
    if max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("generate: every prompt needs at least one token")
    if any(not s for s in stop_strings):
        raise ValueError("generate: stop strings must be non-empty")
    if eos_token_id is None:
        eos_token_id = getattr(tokenizer, "eos_token_id", None)
    eos_ids = (
        set()
        if eos_token_id is None
        else {int(eos_token_id)}
        if isinstance(eos_token_id, int)
        else set(eos_token_id)
    )
    if pad_token_id is None:
        pad_token_id = getattr(tokenizer, "pad_token_id", None)
    if pad_token_id is None:
        pad_token_id = min(eos_ids) if eos_ids else 0
    stop_window = max((len(s.encode("utf-8")) for s in stop_strings), default=0) + 1

    batch = len(prompts)
    device = _model_device(model)
    input_ids, attention_mask, _ = pad_batch(prompts, None, pad_token_id, side="left", device=device)
    generated: list[list[int]] = [[] for _ in range(batch)]
    finish: list[str] = ["length"] * batch
    active = torch.ones(batch, dtype=torch.bool, device=device)
    step_tokens: list[Tensor] = []
    step_log_probs: list[Tensor] = []
    step_masks: list[Tensor] = []

    cache = None
    if max_new_tokens > 0:
        logits, cache = _forward(
            model, input_ids, attention_mask, position_ids_from_mask(attention_mask), None, use_cache
        )
        next_logits = logits[:, -1]
    for step in range(max_new_tokens):
        tokens = sample_bins(next_logits, temperature, top_k, deterministic, generator)
        log_probs = _token_log_probs(next_logits, tokens, temperature)
        tokens = torch.where(active, tokens, torch.full_like(tokens, pad_token_id))
        step_tokens.append(tokens)
        step_log_probs.append(torch.where(active, log_probs, torch.zeros_like(log_probs)))
        step_masks.append(active.clone())

        newly_done = torch.zeros_like(active)
        for row in torch.nonzero(active).flatten().tolist():
            token = int(tokens[row])
            generated[row].append(token)
            if token in eos_ids:
                finish[row] = "eos"
            elif stop_strings and any(
                s in _decode(tokenizer, generated[row][-stop_window:]) for s in stop_strings
            ):
                finish[row] = "stop"
            else:
                continue
            newly_done[row] = True
        step_active = active
        active = active & ~newly_done
        if step + 1 == max_new_tokens or not active.any():
            break

        # The token just emitted is real for rows that were active this step.
        attention_mask = torch.cat([attention_mask, step_active.long().unsqueeze(-1)], dim=-1)
        if cache is not None:
            position_ids = attention_mask.sum(-1, keepdim=True) - 1
            logits, cache = _forward(model, tokens.unsqueeze(-1), attention_mask, position_ids, cache, True)
        else:
            input_ids = torch.cat([input_ids, tokens.unsqueeze(-1)], dim=-1)
            logits, _ = _forward(model, input_ids, attention_mask, position_ids_from_mask(attention_mask))
        next_logits = logits[:, -1]

    if step_tokens:
        token_ids = torch.stack(step_tokens, dim=1)
        out_log_probs = torch.stack(step_log_probs, dim=1)
        mask = torch.stack(step_masks, dim=1)
    else:
        token_ids = torch.full((batch, 0), pad_token_id, dtype=torch.long, device=device)
        out_log_probs = torch.zeros((batch, 0), device=device)
        mask = torch.zeros((batch, 0), dtype=torch.bool, device=device)

    texts = []
    for row in range(batch):
        ids = generated[row][:-1] if finish[row] == "eos" else generated[row]
        text = _decode(tokenizer, ids)
        if finish[row] == "stop":
            end = _first_stop_end(text, stop_strings)
            text = text if end is None else text[:end]
        texts.append(text)
    return GenerationOutput(token_ids, out_log_probs, mask, texts, finish)


# -- re-scoring ------------------------------------------------------------------------------------------------


def sequence_log_probs(
    model: Any,
    input_ids: Tensor,
    attention_mask: Tensor,
    loss_mask: Tensor,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Teacher-forced log-prob and entropy of every token given the tokens before it (with grad).

    Formula (``l_{i-1}`` the logits at position ``i - 1``, positions from
    :func:`position_ids_from_mask`)::

        log_probs[:, i] = log_softmax(l_{i-1} / T)[input_ids[:, i]]     for i >= 1 with loss_mask
        entropy[:, i]   = -sum_v p_v log p_v,   p = softmax(l_{i-1} / T)
        log_probs[:, 0] = entropy[:, 0] = 0, and 0 wherever loss_mask (or attention_mask) is False

    Only the selected positions go through the (float32) log-softmax, so memory is
    ``O(#loss tokens * V)`` beyond the model's logits. Either padding side works.

    Args:
        model: causal LM or callable (module docstring).
        input_ids: long ``[B, L]``.
        attention_mask: ``[B, L]`` (0 / 1 or bool).
        loss_mask: bool ``[B, L]``; True on the tokens to score (the generated ones).
        temperature: ``T > 0``, the same as at generation.

    Returns:
        ``(log_probs [B, L], entropy [B, L])``, float32.
    """
    if not temperature > 0.0:
        raise ValueError(f"sequence_log_probs: temperature must be > 0, got {temperature}")
    attention_mask = attention_mask.long()
    logits, _ = _forward(model, input_ids, attention_mask, position_ids_from_mask(attention_mask))
    batch, length = input_ids.shape
    select = loss_mask[:, 1:].bool() & attention_mask[:, 1:].bool()
    scaled = logits[:, :-1][select].float() / temperature  # [N, V]
    log_probs = (
        torch.log_softmax(scaled, dim=-1).gather(-1, input_ids[:, 1:][select].unsqueeze(-1)).squeeze(-1)
    )
    entropy = categorical_entropy(scaled)
    zeros = torch.zeros((batch, length - 1), dtype=torch.float32, device=logits.device)
    first = torch.zeros((batch, 1), dtype=torch.float32, device=logits.device)
    return (
        torch.cat([first, zeros.masked_scatter(select, log_probs)], dim=1),
        torch.cat([first, zeros.masked_scatter(select, entropy)], dim=1),
    )
