"""The text agent: a transformers LM that writes one turn of free text per env step.

Each step the policy reads the env's conversation (``obs["text"]``, the tool env's or a GUI
env's transcript so far), formats it with ``config.prompt``, tokenizes it and samples a turn
with :func:`~embodied_rl.policies.heads.text.generate` until a stop string (the tool env's
closing tags), eos or ``max_new_tokens``. The env parses the text.

A turn is a step, so multi-turn episodes need nothing special from the trainers: each step
stores its own prompt and generated token ids in ``extras`` (padded to ``max_prompt_tokens``
and ``max_new_tokens``), and :meth:`evaluate` re-scores exactly those tokens
(:func:`~embodied_rl.policies.heads.text.sequence_log_probs`). Only generated tokens carry
log-probs and loss; the prompt (instructions, earlier turns, tool results) never does::

    log_prob[b, j] = log softmax(l / T)[gen_ids[b, j]]   for j < len(turn b), else 0
    logprob_level = token:    PPO ratio per generated token, masked mean (:meth:`logprob_mask`)
    logprob_level = sequence: one ratio per turn, log_prob = sum_j log_prob[b, j]

SFT (:meth:`sft_loss`) is the mean negative log-likelihood of the expert's turn tokens given
the same prompt.

With a VLM backbone (``qwen2_vl``, ``qwen2_5_vl``, ...) the prompt also shows the observation's
images (``image_keys``, e.g. a GUI env's ``screen``): the processor expands them into image
tokens, the prompt ids stored in ``extras`` include those tokens, and :meth:`evaluate` runs the
processor again on the stored observation for the pixels, so the same ids and pixels are
scored. With ``value_head`` a linear critic reads the last prompt token's hidden state (PPO).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from embodied_rl.envs.core import EnvSpec, Obs
from embodied_rl.policies.backbones.hf import (
    BackboneInputs,
    backbone_from_config,
    save_backbone,
    saved_backbone_path,
)
from embodied_rl.policies.backbones.tokenizer import CORPUS
from embodied_rl.policies.core import ActionOutput, Policy, PolicyEnvMismatch
from embodied_rl.policies.heads.text import generate, pad_batch, sequence_log_probs
from embodied_rl.policies.text_agent.config import TextAgentConfig

__all__ = ["GUI_CORPUS", "TOOL_CORPUS", "TextAgentPolicy"]

log = logging.getLogger(__name__)

TOOL_CORPUS = """
You can use tools to answer the question. Tools: To call a tool write <tool_call>{"name": <tool name>, "arguments": {...}}</tool_call>.
The result comes back as <tool_result>...</tool_result>. Write the final answer as <answer>...</answer>. One tool call or one answer per turn.
- calculator(expression): Evaluate an arithmetic expression with exact arithmetic (integers and fractions, no rounding).
- python(code): Run a Python 3 program (standard library only) in a sandbox without network or files, and return what it prints.
- search(query, top_k): Search the documents with BM25 and return the best matching documents.
- crop_image(bbox): Crop the image to a box. zoom_image(center, factor). rotate_image(degrees).
Question: Calculate 12 + 7 * 3. Calculate -( 722 / 722 ) + -768. Calculate 251 + -513. What is 48 - 9?
<tool_call>{"name": "calculator", "arguments": {"expression": "-62 * 51"}}</tool_call>
<tool_result>-3162</tool_result>
<answer>-3162</answer>
<tool_call>{"name": "python", "arguments": {"code": "print(sum(range(10)))"}}</tool_call>
<tool_call>{"name": "search", "arguments": {"query": "founded year town"}}</tool_call>
<tool_call>{"name": "crop_image", "arguments": {"bbox": [120, 64, 184, 128]}}</tool_call>
error: malformed JSON in the tool call. error: unknown tool. error: invalid arguments for calculator.
Find a way to make 116 using all of these numbers: 71, 33, 12. How many red dots are inside the small box?
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 25 30 40 50 64 99 100 128 256 512 1000
+ - * / ( ) , . : = [ ] { } " ' -1 -2 -3 -4 -5 -6 -7 -8 -9
""".strip()
"""Tool-use text added to the offline tokenizer's corpus (``tokenizer_corpus: tools``)."""

GUI_CORPUS = """
Actions (one per turn, pixels of the screenshot): click(x, y), click_element(ref), type("text"), press("Enter"), scroll(x, y, "down"), done().
Task: Click the button. Click on the "ONE" button. Select ok, yes and click Submit. Select nothing and click Submit.
Enter "Kasey" into the text field and press Submit. Focus into the textbox. Click on the link "lorem".
Elements:
[4] button "Submit" at (80,95) [5] input_text "" at (80,130) value="Kasey" focused [6] label "ok" [7] input_checkbox "" unchecked checked
[8] span "ipsum" at (40,120) [9] div "" at (12,7) [10] button "Click Me!" at (51,88)
Previous actions: none; click_element(5); type("Kasey"); click(80, 95); press("Enter"); press("Tab")
Last action was invalid: no element with ref 99 on this page. Next action:
""".strip()
"""GUI-agent text added to the offline tokenizer's corpus (``tokenizer_corpus: gui``)."""


class _VisionLM:
    """A VLM called with the text-LM signature of :mod:`~embodied_rl.policies.heads.text`, its
    images bound; they go in when the prompt is encoded, decode steps only add tokens.

    Qwen-VL families place tokens with 3-D M-RoPE. Encoding lets the model compute positions
    from the ids, the mask and the per-token modality ids (recomputed from each call's ids, as the
    sequence grows and is padded differently when generating and re-scoring). A decode step
    places the new token of row b at ``p_b = n_b - 1 + d_b`` on all three axes, where ``n_b``
    is the row's attended tokens so far and ``d_b = max prompt position + 1 - prompt tokens``:
    the positions the model gives those tokens when it re-scores the whole sequence. Other
    families use the 1-D positions of the signature.

    The image (and video) placeholder tokens get logit ``-1e9`` (probability 0) in every call, so
    they are never generated (the model would expect image features there); generation and
    re-scoring see the same renormalised distribution.
    """

    BANNED_LOGIT = -1e9

    def __init__(self, model: Any, vision_kwargs: dict[str, torch.Tensor], placeholders: list[int]) -> None:
        self.model, self.kwargs, self.image_token_id = model, vision_kwargs, placeholders[0]
        self.device = next(model.parameters()).device
        self.banned = torch.tensor(placeholders, dtype=torch.long, device=self.device)
        self.mrope = "mm_token_type_ids" in vision_kwargs
        self.delta: torch.Tensor | None = None

    def __call__(self, input_ids, attention_mask, position_ids=None, past_key_values=None, use_cache=False):
        if past_key_values is not None:  # a decode step: the images are in the cache already
            if self.mrope:
                assert self.delta is not None
                pos = attention_mask.long().sum(-1, keepdim=True) - 1 + self.delta.unsqueeze(-1)
                position_ids = pos.unsqueeze(0).expand(3, -1, -1)
            return self._ban(
                self.model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    past_key_values=past_key_values,
                    use_cache=True,
                )
            )
        kwargs = dict(self.kwargs)
        if self.mrope:
            kwargs["mm_token_type_ids"] = (input_ids == self.image_token_id).long()
            if use_cache:
                positions, _ = self.model.model.get_rope_index(
                    input_ids,
                    mm_token_type_ids=kwargs["mm_token_type_ids"],
                    image_grid_thw=kwargs.get("image_grid_thw"),
                    attention_mask=attention_mask,
                )
                valid = attention_mask.bool()
                top = positions.amax(0).masked_fill(~valid, -1).amax(-1)
                self.delta = top + 1 - valid.long().sum(-1)
            position_ids = None
        return self._ban(
            self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=use_cache,
                **kwargs,
            )
        )

    def _ban(self, out: Any) -> dict[str, Any]:
        logits = out.logits.index_fill(-1, self.banned, self.BANNED_LOGIT)
        return {"logits": logits, "past_key_values": getattr(out, "past_key_values", None)}


class TextAgentPolicy(Policy):
    """See the module docstring."""

    config_class = TextAgentConfig
    config: TextAgentConfig

    def __init__(self, config: TextAgentConfig, spec: EnvSpec) -> None:
        super().__init__(config, spec)
        extra = {"tools": TOOL_CORPUS, "gui": GUI_CORPUS}.get(config.tokenizer_corpus)
        corpus = None if extra is None else [*CORPUS.splitlines(), *extra.splitlines()]
        self.backbone = backbone_from_config(config.backbone, tokenizer_corpus=corpus)
        self.vision = self.backbone.processor is not None
        if self.backbone.kind == "paligemma":
            raise PolicyEnvMismatch(
                "text_agent takes text LMs and the qwen-VL / idefics3 VLM families, not paligemma "
                "(its prefix/suffix token types do not fit free-text generation)"
            )
        self.value_head = torch.nn.Linear(self.backbone.hidden_size, 1) if config.value_head else None
        if self.value_head is not None:
            torch.nn.init.zeros_(self.value_head.weight)
            torch.nn.init.zeros_(self.value_head.bias)
        self.tokenizer = self.backbone.tokenizer
        self.pad_id = int(self.backbone.pad_token_id)
        self.eos_id = self.tokenizer.eos_token_id
        self._warned_truncation = False

    @classmethod
    def check_spec(cls, config: TextAgentConfig, spec: EnvSpec) -> None:  # type: ignore[override]
        if spec.action_kind != "text":
            raise PolicyEnvMismatch(
                f"policy 'text_agent' writes text actions; env '{spec.name}' takes {spec.action_space}"
            )
        keys = set(spec.observation_space.spaces)
        if not keys & {"text", "instruction"}:
            raise PolicyEnvMismatch(
                f"policy 'text_agent' reads obs 'text'/'instruction'; env '{spec.name}' has {sorted(keys)}"
            )

        spaces = spec.observation_space.spaces
        images = set(spaces["images"].spaces) if "images" in spaces else set()
        missing = set(config.image_keys) - images
        if missing:
            raise PolicyEnvMismatch(
                f"policy.image_keys {sorted(missing)} are not images of env '{spec.name}' ({sorted(images)})"
            )

    @property
    def model(self) -> Any:
        return self.backbone.model

    # ---- prompts ---------------------------------------------------------------------------

    def prompt_texts(self, obs: Obs) -> list[str]:
        """The prompt string of each row (template, then the family's chat markers if ``chat``)."""
        texts = obs.get("text") or obs.get("instruction")
        instructions = obs.get("instruction") or [""] * len(texts)
        rows = [
            self.config.prompt.format(text=t, instruction=i) for t, i in zip(texts, instructions, strict=True)
        ]
        return [self.backbone.prompt(r) for r in rows] if self.config.chat and not self.vision else rows

    def _images(self, obs: Obs) -> list[list[Any]]:
        images = obs.get("images") or {}
        keys = self.config.image_keys or sorted(images)
        batch = len(obs.get("text") or obs.get("instruction"))
        return [[images[k][i].cpu().numpy() for k in keys] for i in range(batch)]

    def prompt_batch(self, obs: Obs) -> tuple[list[list[int]], dict[str, torch.Tensor]]:
        """Prompt ids per row and the model's other inputs (a VLM's pixels; empty for text LMs)."""
        if not self.vision:
            return self.prompt_ids(obs), {}
        inputs = self.backbone.prepare(self.prompt_texts(obs), self._images(obs)).to(self._device)
        lengths = inputs.lengths.tolist()
        if max(lengths) > self.config.max_prompt_tokens:
            raise ValueError(
                f"text_agent: a VLM prompt has {max(lengths)} tokens > max_prompt_tokens="
                f"{self.config.max_prompt_tokens} (image tokens cannot be cut); raise max_prompt_tokens"
            )
        return [
            row[:n] for row, n in zip(inputs.input_ids.tolist(), lengths, strict=True)
        ], inputs.model_kwargs

    def _lm(self, vision_kwargs: dict[str, torch.Tensor]) -> Any:
        if not self.vision:
            return self.model
        processor = self.backbone.processor
        placeholders = [processor.image_token_id, getattr(processor, "video_token_id", None)]
        return _VisionLM(self.model, vision_kwargs, [t for t in placeholders if t is not None])

    def prompt_ids(self, obs: Obs) -> list[list[int]]:
        """Token ids of each text prompt; longer than ``max_prompt_tokens`` keeps the last tokens."""
        if self.vision:
            return self.prompt_batch(obs)[0]
        ids = self.tokenizer(self.prompt_texts(obs), add_special_tokens=False)["input_ids"]
        limit = self.config.max_prompt_tokens
        if any(len(row) > limit for row in ids) and not self._warned_truncation:
            log.warning(
                "text_agent: prompts longer than max_prompt_tokens=%d lose their oldest tokens", limit
            )
            self._warned_truncation = True
        return [row[-limit:] for row in ids]

    # ---- the contract ----------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: Obs, deterministic: bool = False) -> ActionOutput:
        prompts, vision_kwargs = self.prompt_batch(obs)
        c = self.config
        out = generate(
            self._lm(vision_kwargs),
            self.tokenizer,
            prompts,
            c.max_new_tokens,
            stop_strings=c.stop_strings,
            temperature=c.temperature,
            top_k=c.top_k,
            deterministic=deterministic,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
        )
        device = self._device
        width = c.max_new_tokens
        gen_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long, device=device)
        gen_mask = torch.zeros((len(prompts), width), dtype=torch.bool, device=device)
        log_probs = torch.zeros((len(prompts), width), device=device)
        steps = out.token_ids.shape[1]
        gen_ids[:, :steps], gen_mask[:, :steps], log_probs[:, :steps] = out.token_ids, out.mask, out.log_probs
        extras = {**self._prompt_extras(prompts), "gen_ids": gen_ids, "gen_mask": gen_mask}
        return ActionOutput(out.texts, self._level(log_probs), self._value(extras, vision_kwargs), extras)

    def evaluate(
        self, obs: Obs, actions: Any, extras: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not extras or "gen_ids" not in extras:
            raise ValueError("text_agent.evaluate needs the extras act() returned (prompt and generated ids)")
        vision_kwargs = self.prompt_batch(obs)[1] if self.vision else {}
        log_probs, entropy = self._score(extras, vision_kwargs)
        return self._level(log_probs), self._level(entropy), self._value(extras, vision_kwargs)

    def value(self, obs: Obs) -> torch.Tensor | None:
        if self.value_head is None:
            return None
        prompts, vision_kwargs = self.prompt_batch(obs)
        return self._value(self._prompt_extras(prompts), vision_kwargs)

    def _value(
        self, extras: dict[str, torch.Tensor], vision_kwargs: dict[str, torch.Tensor]
    ) -> torch.Tensor | None:
        """``V = w . h_last + b``: the critic on the last prompt token's hidden state."""
        if self.value_head is None:
            return None
        lengths = extras["prompt_len"].long()
        width = int(lengths.max())
        ids = extras["prompt_ids"][:, :width]
        mask = (torch.arange(width, device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)).long()
        out = self.backbone(BackboneInputs(ids, mask, lengths, vision_kwargs), output_logits=False)
        last = out.hidden[torch.arange(len(lengths), device=ids.device), lengths - 1]
        return self.value_head(last.float()).squeeze(-1)

    def logprob_mask(self, extras: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Generated-token mask for ``logprob_level=token`` (padding is not a token); None per turn."""
        return extras["gen_mask"] if self.config.logprob_level == "token" else None

    def sft_loss(self, obs: Obs, actions: Any) -> torch.Tensor:
        """Mean NLL of the expert turns' tokens (cut at ``max_new_tokens``) given the prompts."""
        prompts, vision_kwargs = self.prompt_batch(obs)
        targets = self.tokenizer(list(actions), add_special_tokens=False)["input_ids"]
        targets = [row[: self.config.max_new_tokens] for row in targets]
        gen_ids, _, gen_mask = pad_batch(
            targets, [[True] * len(r) for r in targets], self.pad_id, device=self._device
        )
        log_probs, _ = self._score(
            {**self._prompt_extras(prompts), "gen_ids": gen_ids, "gen_mask": gen_mask}, vision_kwargs
        )
        return -(log_probs * gen_mask).sum() / gen_mask.sum().clamp(min=1)

    # ---- internals -------------------------------------------------------------------------

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _level(self, per_token: torch.Tensor) -> torch.Tensor:
        return per_token if self.config.logprob_level == "token" else per_token.sum(-1)

    def _prompt_extras(self, prompts: list[list[int]]) -> dict[str, torch.Tensor]:
        ids, mask, _ = pad_batch(prompts, None, self.pad_id, device=self._device)
        padded = torch.full(
            (len(prompts), self.config.max_prompt_tokens), self.pad_id, dtype=torch.long, device=self._device
        )
        padded[:, : ids.shape[1]] = ids
        return {"prompt_ids": padded, "prompt_len": mask.sum(1)}

    def _score(
        self, extras: dict[str, torch.Tensor], vision_kwargs: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced ``(log_probs, entropy)`` ``[B, G]`` of the generated tokens, with grad."""
        prompt_len = extras["prompt_len"].long()
        gen_mask = extras["gen_mask"].bool()
        gen_len = gen_mask.sum(1)
        batch, width = gen_mask.shape
        total = int((prompt_len + gen_len).max())
        device = gen_mask.device
        cols = torch.arange(total, device=device).unsqueeze(0)
        # Row b: prompt tokens at [0, p_b), generated tokens at [p_b, p_b + g_b), padding after.
        in_prompt = cols < prompt_len.unsqueeze(1)
        in_gen = (cols >= prompt_len.unsqueeze(1)) & (cols < (prompt_len + gen_len).unsqueeze(1))
        gen_col = (cols - prompt_len.unsqueeze(1)).clamp(0, width - 1)
        prompt_ids = extras["prompt_ids"][:, :total]
        if prompt_ids.shape[1] < total:
            prompt_ids = torch.nn.functional.pad(
                prompt_ids, (0, total - prompt_ids.shape[1]), value=self.pad_id
            )
        ids = torch.where(in_prompt, prompt_ids, extras["gen_ids"].gather(1, gen_col))
        ids = torch.where(in_prompt | in_gen, ids, torch.full_like(ids, self.pad_id))
        log_probs, entropy = sequence_log_probs(
            self._lm(vision_kwargs or {}), ids, (in_prompt | in_gen).long(), in_gen, self.config.temperature
        )
        index = (prompt_len.unsqueeze(1) + torch.arange(width, device=device)).clamp(max=total - 1)
        return log_probs.gather(1, index) * gen_mask, entropy.gather(1, index) * gen_mask

    # ---- saving and loading ----------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Weights + ``policy.json`` + ``backbone/`` (config and tokenizer) so it reloads offline."""
        directory = super().save_pretrained(directory)
        save_backbone(self.backbone, directory)
        return directory

    @classmethod
    def build_from_directory(cls, config: TextAgentConfig, spec: EnvSpec, directory: Path) -> TextAgentPolicy:  # type: ignore[override]
        """Build the backbone (and its saved tokenizer) from ``directory/backbone``."""
        with saved_backbone_path(config.backbone, directory):
            return cls(config, spec)
