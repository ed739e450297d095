"""Config of the ``text_agent`` policy: a transformers LM that answers each turn with free text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from embodied_rl.policies.vla.config import BackboneConfig

from embodied_rl.config.schema import PolicyConfig

TEXT_FAMILIES = ("qwen2", "llama")
"""Text LM families; every other family of the policy module's presets is a VLM (reads images)."""
LOGPROB_LEVELS = ("token", "sequence")
TOKENIZER_CORPORA = ("tools", "gui", "none")


def _text_backbone() -> BackboneConfig:
    return BackboneConfig(family="qwen2", preset="tiny")


@dataclass
class TextAgentConfig(PolicyConfig):
    """A language model generating one turn per env step (tool calls, answers, GUI actions)."""

    name: str = "text_agent"
    """Registered policy name."""
    value_head: bool = False
    """A linear critic on the last prompt token's hidden state (PPO); off: GRPO (no critic)."""
    backbone: BackboneConfig = field(default_factory=_text_backbone)
    """The model: a text LM family (qwen2, llama) or a VLM family (qwen2_vl, qwen2_5_vl, ...; reads
    the observation's images), as a preset or a local checkpoint path."""
    image_keys: list[str] = field(default_factory=list)
    """VLMs: the observation images shown to the model, in order (empty: all of them, sorted)."""
    prompt: str = "{text}"
    """Prompt template over the observation: {text} (the env's conversation) and {instruction}."""
    chat: bool = False
    """Wrap the prompt in the family's user/assistant markers (chat-tuned checkpoints)."""
    max_prompt_tokens: int = 512
    """Longest prompt; longer text prompts keep their last tokens (the oldest context is dropped);
    a longer VLM prompt is an error (cutting it would cut image tokens)."""
    max_new_tokens: int = 64
    """Longest turn the model may write."""
    temperature: float = 1.0
    """Sampling temperature (log-probs are of the temperature-scaled distribution)."""
    top_k: int = 0
    """Sample among the k most likely tokens (0 = off; keep 0 for on-policy RL)."""
    stop_strings: list[str] = field(default_factory=lambda: ["</tool_call>", "</answer>"])
    """A turn ends after any of these (the tool env's closing tags)."""
    logprob_level: str = "token"
    """token: PPO ratio per generated token (masked mean); sequence: one ratio per turn."""
    tokenizer_corpus: str = "tools"
    """Extra text the offline tokenizer of a preset backbone is trained on: tools, gui or none."""

    def check(self, cfg: Any) -> Iterator[tuple[str, str]]:
        from embodied_rl.policies.backbones.presets import FAMILIES

        if not self.backbone.path and self.backbone.family not in FAMILIES:
            yield (
                "policy.backbone.family",
                f"unknown family {self.backbone.family!r}; known: {sorted(FAMILIES)}",
            )
        if self.logprob_level not in LOGPROB_LEVELS:
            yield "policy.logprob_level", f"must be one of {LOGPROB_LEVELS}, got {self.logprob_level!r}"
        if self.max_new_tokens < 1 or self.max_prompt_tokens < 1:
            yield "policy.max_new_tokens", "max_new_tokens and max_prompt_tokens must be >= 1"
        if not self.temperature > 0:
            yield "policy.temperature", f"must be > 0, got {self.temperature}"
        if self.tokenizer_corpus not in TOKENIZER_CORPORA:
            yield (
                "policy.tokenizer_corpus",
                f"must be one of {TOKENIZER_CORPORA}, got {self.tokenizer_corpus!r}",
            )
