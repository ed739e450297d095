"""Transformers VLM / LM backbones behind one small interface (:class:`HFBackbone`).

::

    bb = HFBackbone.build("qwen2_5_vl", "tiny")              # random init, offline tokenizer
    inputs = bb.prepare(["pick up the cube"], [[cam0, cam1]])  # right-padded batch
    out = bb(inputs, suffix_ids=action_tokens)               # hidden / logits over prompt + suffix
    logits = bb.suffix_logits(out)                           # [B, S, V]: logits predicting each suffix token

Families (``presets.FAMILIES``): ``qwen2_5_vl``, ``qwen2_vl``, ``qwen3_vl`` (one code path),
``paligemma``, ``idefics3`` / ``smolvlm`` and the text LMs ``qwen2`` / ``llama``.

Batches are right-padded. ``suffix_ids`` go right after each row's last prompt token, so a row's
outputs do not depend on the other rows of the batch (padding only ever follows the valid
tokens, and it is masked). Positions: text LMs get ``position_ids`` from the attention mask; the
Qwen-VL families compute their 3D RoPE indices from ``mm_token_type_ids`` and the attention
mask, which skips padding; PaliGemma and Idefics3 count positions from 0 (right padding keeps
that exact). PaliGemma keeps its prefix-LM mask: prompt tokens attend to each other both ways,
suffix tokens causally.

Nothing here downloads: :meth:`HFBackbone.from_pretrained` takes a local directory only.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from embodied_rl.policies.backbones.presets import (
    MODEL_TYPE_TO_FAMILY,
    config_from_preset,
    get_family,
    preset_dict,
)
from embodied_rl.policies.backbones.processors import PROCESSOR_CLASSES, build_processor
from embodied_rl.policies.backbones.tokenizer import PROMPT_FORMATS, build_tokenizer
from safetensors.torch import load_file, save_file
from torch import nn

BACKBONE_JSON = "backbone.json"
ADAPTER_WEIGHTS = "adapter.safetensors"
# Per-token model inputs and the value they take after the prompt (suffix and padding).
_TOKEN_ALIGNED_FILL = {"mm_token_type_ids": 0, "token_type_ids": 1}
# Module path of the language model's decoder layers inside each family kind's model.
_LM_LAYERS = {
    "qwen_vl": r"model\.language_model\.layers",
    "paligemma": r"model\.language_model\.layers",
    "idefics3": r"model\.text_model\.layers",
    "text": r"model\.layers",
}
_LORA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class NotALocalDirectory(FileNotFoundError):
    """``from_pretrained`` got something that is not a local directory (e.g. a hub id)."""


@dataclass
class BackboneInputs:
    """A right-padded batch for :meth:`HFBackbone.forward`.

    Attributes:
        input_ids: ``[B, L]`` token ids (image placeholders expanded), padding after ``lengths``.
        attention_mask: ``[B, L]`` 1 on the valid tokens.
        lengths: ``[B]`` valid tokens per row.
        model_kwargs: Other model inputs (``pixel_values``, ``image_grid_thw``,
            ``pixel_attention_mask``, ``mm_token_type_ids`` ...).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: torch.Tensor
    model_kwargs: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> BackboneInputs:
        """The same batch on ``device``."""
        return BackboneInputs(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.lengths.to(device),
            {k: v.to(device) for k, v in self.model_kwargs.items()},
        )


@dataclass
class BackboneOutput:
    """What :meth:`HFBackbone.forward` returns; ``T = L + S`` (prompt + suffix columns).

    Attributes:
        hidden: ``[B, T, H]`` last layer's hidden states (after the final norm).
        logits: ``[B, T, V]`` or None (``output_logits=False``).
        attention_mask: ``[B, T]`` 1 on prompt and suffix tokens.
        lengths: ``[B]`` prompt tokens per row; the suffix is at ``lengths .. lengths + S - 1``.
        num_suffix: ``S``, suffix tokens per row (0 without ``suffix_ids``).
    """

    hidden: torch.Tensor
    logits: torch.Tensor | None
    attention_mask: torch.Tensor
    lengths: torch.Tensor
    num_suffix: int = 0


def count_parameters(module: nn.Module) -> dict[str, int]:
    """``{"total": ..., "trainable": ...}`` parameter counts of ``module`` (shared ones once)."""
    params = list(module.parameters())
    return {
        "total": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
    }


def _right_pad(x: torch.Tensor, lengths: torch.Tensor, width: int, fill: int) -> torch.Tensor:
    """``[B, L]`` -> ``[B, width]``: each row's first ``lengths`` entries, then ``fill``."""
    cols = torch.arange(width, device=x.device)
    out = torch.full((x.shape[0], width), fill, dtype=x.dtype, device=x.device)
    n = min(width, x.shape[1])
    keep = cols[:n].unsqueeze(0) < lengths.unsqueeze(1)
    out[:, :n] = torch.where(keep, x[:, :n], out[:, :n])
    return out


def _left_align(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Moves each row's valid entries (``mask`` 1) to the front, keeping their order."""
    order = torch.sort((1 - mask).to(torch.int8), dim=1, stable=True).indices
    return torch.gather(x, 1, order)


class HFBackbone(nn.Module):
    """A transformers VLM / causal LM with its tokenizer and processor.

    Attributes:
        family: Family name (see ``presets.FAMILIES``).
        model: The ``*ForConditionalGeneration`` / ``*ForCausalLM``.
        tokenizer: Its tokenizer.
        processor: The image-only processor (None for text LMs).
        hidden_size: Width of the hidden states.
        vocab_size: Size of the ``lm_head`` output.
        lora: The LoRA settings once :meth:`apply_lora` ran, else None.
    """

    def __init__(self, family: str, model: nn.Module, tokenizer: Any, processor: Any | None = None) -> None:
        super().__init__()
        self.family = family
        self.kind = get_family(family).kind
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.hidden_size = int(model.config.get_text_config().hidden_size)
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.pad_token_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.lora: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------- construction

    @classmethod
    def build(
        cls,
        family: str,
        preset: str = "tiny",
        image_size: int | None = None,
        overrides: dict[str, Any] | None = None,
        tokenizer_corpus: Sequence[str] | None = None,
    ) -> HFBackbone:
        """A randomly initialised backbone from a preset, with the offline BPE tokenizer.

        Seed with ``torch.manual_seed`` first for reproducible weights.

        Args:
            family: Family name.
            preset: ``tiny`` or ``large`` (``large`` builds billions of parameters).
            image_size: Square image side (default: the preset's).
            overrides: Merged into the preset, e.g. ``{"text": {"num_hidden_layers": 4}}``.
            tokenizer_corpus: Lines the BPE tokenizer is trained on (default: the built-in
                robot / web corpus); text agents add their own domain's text.
        """
        fam = get_family(family)
        data = preset_dict(family, preset, **(overrides or {}))
        if image_size is not None:
            data["image_size"] = int(image_size)
        tokenizer = build_tokenizer(
            family=family, vocab_size=min(int(data["text"]["vocab_size"]), 4096), corpus=tokenizer_corpus
        )
        if len(tokenizer) > int(data["text"]["vocab_size"]):
            raise ValueError(
                f"tokenizer has {len(tokenizer)} tokens > vocab_size {data['text']['vocab_size']}"
            )
        _sync_token_ids(fam.kind, data, tokenizer)
        processor = None
        if fam.kind != "text":
            scale = int(data["model"].get("scale_factor", 2))
            processor = build_processor(fam.kind, tokenizer, data["vision"], int(data["image_size"]), scale)
        model = getattr(transformers, fam.model_class)(config_from_preset(family, data))
        return cls(family, model, tokenizer, processor)

    @classmethod
    def from_pretrained(
        cls,
        local_dir: str | Path,
        family: str | None = None,
        image_size: int | None = None,
        **model_kwargs: Any,
    ) -> HFBackbone:
        """Loads a backbone from a local directory (``save_pretrained`` output or a checkpoint).

        LoRA adapters saved by :meth:`save_pretrained` are re-injected (unmerged, trainable).

        Args:
            local_dir: A local directory; never a hub id (nothing is downloaded).
            family: Family name; read from ``backbone.json`` or ``config.model_type`` if None.
            image_size: Square image side to resize camera images to (default: the saved one).
            **model_kwargs: Passed to the model class's ``from_pretrained`` (e.g. ``dtype``).

        Raises:
            NotALocalDirectory: ``local_dir`` is not an existing local directory.
        """
        path = Path(local_dir)
        if not path.is_dir():
            raise NotALocalDirectory(
                f"'{local_dir}' is not a local directory; embodied-rl never downloads models: "
                "download/copy the checkpoint yourself and pass its path"
            )
        meta = json.loads((path / BACKBONE_JSON).read_text()) if (path / BACKBONE_JSON).is_file() else {}
        family = family or meta.get("family") or _family_of_checkpoint(path)
        fam = get_family(family)
        model = getattr(transformers, fam.model_class).from_pretrained(
            path, local_files_only=True, **model_kwargs
        )
        if fam.kind == "text":
            processor = None
            tokenizer = _load_tokenizer(path)
        else:
            processor = PROCESSOR_CLASSES[fam.kind].from_pretrained(path, local_files_only=True)
            if image_size is not None:
                processor.image_size = int(image_size)
            tokenizer = processor.tokenizer
        backbone = cls(family, model, tokenizer, processor)
        if meta.get("lora"):
            backbone.apply_lora(**meta["lora"])
            adapter = load_file(str(path / ADAPTER_WEIGHTS))
            missing = set(adapter) - set(backbone.model.state_dict())
            if missing:
                raise ValueError(f"adapter weights do not fit the model: {sorted(missing)[:3]} ...")
            backbone.model.load_state_dict(adapter, strict=False)
        return backbone

    def save_pretrained(self, save_dir: str | Path) -> None:
        """Writes model, tokenizer, processor and ``backbone.json`` (family, LoRA settings).

        With LoRA the adapters stay unmerged: ``model.safetensors`` holds the base weights under
        their plain transformers names (loadable without embodied-rl) and ``adapter.safetensors``
        the LoRA A/B matrices; :meth:`from_pretrained` re-injects them.
        """
        path = Path(save_dir)
        path.mkdir(parents=True, exist_ok=True)
        if self.lora is None:
            self.model.save_pretrained(path)
        else:
            state = self.model.state_dict()
            base = {k.replace(".base_layer.", "."): v for k, v in state.items() if "lora_" not in k}
            self.model.save_pretrained(path, state_dict=base)
            adapter = {k: v.detach().contiguous() for k, v in state.items() if "lora_" in k}
            save_file(adapter, str(path / ADAPTER_WEIGHTS))
        if self.processor is not None:
            self.processor.save_pretrained(path)
        else:
            self.tokenizer.save_pretrained(path)
        meta = {"family": self.family, "lora": self.lora}
        (path / BACKBONE_JSON).write_text(json.dumps(meta, indent=2) + "\n")

    # ----------------------------------------------------------------------------- training helpers

    def enable_gradient_checkpointing(self) -> None:
        """Recomputes decoder layers in backward (non-reentrant; active in ``train()`` mode)."""
        enable = getattr(self.model, "activation_checkpointing_enable", None)  # transformers >= 5.x
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.model.config.use_cache = False

    @property
    def gradient_checkpointing(self) -> bool:
        """Whether any layer of the model recomputes its activations in backward."""
        return any(getattr(m, "gradient_checkpointing", False) for m in self.model.modules())

    def default_lora_targets(self) -> str:
        """Regex of the language model's attention and MLP projections (not the vision tower)."""
        return rf"^{_LM_LAYERS[self.kind]}\.\d+\.(self_attn|mlp)\.({'|'.join(_LORA_PROJECTIONS)})$"

    def apply_lora(
        self,
        r: int = 8,
        alpha: int = 16,
        dropout: float = 0.0,
        target_modules: str | Sequence[str] | None = None,
    ) -> HFBackbone:
        """Injects LoRA adapters (``peft``) in place and freezes everything else.

        Afterwards only ``lora_A`` / ``lora_B`` parameters are trainable; set ``requires_grad``
        on anything else you want trained (heads, embeddings) yourself.

        Args:
            r: LoRA rank.
            alpha: LoRA scaling numerator (scale = alpha / r).
            dropout: Dropout on the adapter input.
            target_modules: peft ``target_modules`` (regex string or module-name suffixes);
                default :meth:`default_lora_targets`.
        """
        from peft import LoraConfig, inject_adapter_in_model

        if self.lora is not None:
            raise RuntimeError("LoRA is already applied to this backbone")
        targets = target_modules if target_modules is not None else self.default_lora_targets()
        targets = targets if isinstance(targets, str) else list(targets)
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
        inject_adapter_in_model(config, self.model)
        for name, param in self.model.named_parameters():
            param.requires_grad = "lora_" in name
        self.lora = {"r": r, "alpha": alpha, "dropout": dropout, "target_modules": targets}
        return self

    # ----------------------------------------------------------------------------- data

    def prompt(self, text: str, num_images: int = 0) -> str:
        """The family's prompt for one row (one image placeholder per camera)."""
        return PROMPT_FORMATS[self.family].render(text, num_images)

    def prepare(self, texts: Sequence[str], images: Sequence[Sequence[Any]] | None = None) -> BackboneInputs:
        """Builds a right-padded batch from instructions and camera images.

        Args:
            texts: One instruction per row.
            images: Per row, a list of camera images (uint8 ``HxWx3`` numpy arrays or torch
                tensors; any size, resized to the processor's ``image_size``). Rows may have
                different numbers of cameras. None for text LMs.

        Returns:
            The batch; ``model_kwargs`` holds the processor's other outputs.
        """
        texts = list(texts)
        if self.processor is None:
            if images is not None:
                raise ValueError(f"{self.family} is a text LM; it takes no images")
            enc = self.tokenizer(
                [self.prompt(t) for t in texts],
                add_special_tokens=False,
                padding=True,
                return_token_type_ids=False,
                return_tensors="pt",
            )
        else:
            images = [list(row) for row in images] if images is not None else [[] for _ in texts]
            if len(images) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(images)} rows of images")
            if self.kind == "paligemma" and any(not row for row in images):
                raise ValueError("paligemma needs at least one image per row")
            prompts = [self.prompt(t, len(row)) for t, row in zip(texts, images, strict=True)]
            flat = [img for row in images for img in row]
            call_images: Any = None
            if flat:
                call_images = images if self.kind == "idefics3" else flat
            enc = self.processor(
                images=call_images, text=prompts, padding=True, add_special_tokens=False, return_tensors="pt"
            )
        mask = enc.pop("attention_mask").long()
        lengths = mask.sum(1)
        width = int(lengths.max())
        ids = _right_pad(_left_align(enc.pop("input_ids").long(), mask), lengths, width, self.pad_token_id)
        kwargs: dict[str, torch.Tensor] = {}
        for key, value in enc.items():
            if not isinstance(value, torch.Tensor):
                continue
            if key in _TOKEN_ALIGNED_FILL:
                value = _right_pad(_left_align(value, mask), lengths, width, _TOKEN_ALIGNED_FILL[key])
            kwargs[key] = value
        attention = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return BackboneInputs(ids, attention, lengths, kwargs)

    # ----------------------------------------------------------------------------- forward

    def forward(
        self,
        inputs: BackboneInputs,
        suffix_ids: torch.Tensor | None = None,
        output_logits: bool = True,
    ) -> BackboneOutput:
        """Runs the model on prompt (+ suffix) tokens.

        Args:
            inputs: From :meth:`prepare`.
            suffix_ids: ``[B, S]`` tokens placed right after each row's prompt (action tokens,
                teacher-forced answers); padding moves after them.
            output_logits: Also apply ``lm_head`` (skip it when only hidden states are needed).

        Returns:
            Hidden states (and logits) over ``L + S`` columns.
        """
        lengths = inputs.lengths
        batch, width = inputs.input_ids.shape
        num_suffix = 0 if suffix_ids is None else int(suffix_ids.shape[1])
        total = width + num_suffix
        ids = _right_pad(inputs.input_ids, lengths, total, self.pad_token_id)
        if num_suffix and self.processor is not None and (suffix_ids == self.processor.image_token_id).any():
            raise ValueError(
                "suffix_ids contain the image token id; the model would expect image features there"
            )
        if num_suffix:
            cols = lengths.unsqueeze(1) + torch.arange(num_suffix, device=ids.device)
            ids.scatter_(1, cols, suffix_ids.to(ids.dtype))
        cols = torch.arange(total, device=ids.device).unsqueeze(0)
        attention = (cols < (lengths + num_suffix).unsqueeze(1)).long()
        kwargs: dict[str, Any] = {}
        for key, value in inputs.model_kwargs.items():
            if key in _TOKEN_ALIGNED_FILL:
                value = _right_pad(value, lengths, total, _TOKEN_ALIGNED_FILL[key])
            elif value.is_floating_point():
                value = value.to(self.model.dtype)  # float32 pixels into a bf16 model
            kwargs[key] = value
        if self.kind == "text":
            kwargs["position_ids"] = (attention.cumsum(1) - 1).clamp(min=0)
        base = self.model.get_decoder() if self.kind == "text" else self.model.model
        out = base(input_ids=ids, attention_mask=attention, use_cache=False, **kwargs)
        hidden = out.last_hidden_state
        logits = self.model.get_output_embeddings()(hidden) if output_logits else None
        return BackboneOutput(hidden, logits, attention, lengths, num_suffix)

    # ----------------------------------------------------------------------------- readouts

    @staticmethod
    def pooled(output: BackboneOutput) -> torch.Tensor:
        """``[B, H]`` mean of the hidden states over each row's prompt tokens (suffix excluded)."""
        cols = torch.arange(output.hidden.shape[1], device=output.hidden.device).unsqueeze(0)
        mask = (cols < output.lengths.unsqueeze(1)).to(output.hidden.dtype).unsqueeze(-1)
        return (output.hidden * mask).sum(1) / output.lengths.clamp(min=1).unsqueeze(1).to(
            output.hidden.dtype
        )

    @staticmethod
    def positions_of_suffix(output: BackboneOutput, num_suffix: int | None = None) -> torch.Tensor:
        """``[B, S]`` column of each suffix token in the output (``lengths + 0 .. S-1``)."""
        s = output.num_suffix if num_suffix is None else int(num_suffix)
        return output.lengths.unsqueeze(1) + torch.arange(s, device=output.lengths.device)

    @classmethod
    def suffix_hidden(cls, output: BackboneOutput, num_suffix: int | None = None) -> torch.Tensor:
        """``[B, S, H]`` hidden states at the suffix tokens."""
        pos = cls.positions_of_suffix(output, num_suffix)
        return torch.gather(output.hidden, 1, pos.unsqueeze(-1).expand(-1, -1, output.hidden.shape[-1]))

    @classmethod
    def suffix_logits(cls, output: BackboneOutput, num_suffix: int | None = None) -> torch.Tensor:
        """``[B, S, V]`` logits that predict each suffix token (taken one column earlier).

        Entry ``[b, 0]`` comes from the last prompt token, entry ``[b, j]`` from suffix token
        ``j - 1``. With ``num_suffix`` larger than the suffix given, the extra entries are the
        predictions after the suffix (e.g. ``S=1`` without suffix: the next-token logits).
        """
        if output.logits is None:
            raise ValueError("forward(..., output_logits=False) returned no logits")
        pos = cls.positions_of_suffix(output, num_suffix) - 1
        return torch.gather(output.logits, 1, pos.unsqueeze(-1).expand(-1, -1, output.logits.shape[-1]))

    @classmethod
    def suffix_log_probs(cls, output: BackboneOutput, suffix_ids: torch.Tensor) -> torch.Tensor:
        """``[B, S]`` log-probabilities of ``suffix_ids`` under teacher forcing (float32)."""
        logits = cls.suffix_logits(output, suffix_ids.shape[1]).float()
        return torch.log_softmax(logits, -1).gather(-1, suffix_ids.unsqueeze(-1)).squeeze(-1)


def _sync_token_ids(kind: str, data: dict[str, Any], tokenizer: Any) -> None:
    """Writes the tokenizer's special token ids into a preset dict (model and tokenizer agree)."""
    text = data["text"]
    for key, token in (
        ("pad_token_id", "pad_token"),
        ("eos_token_id", "eos_token"),
        ("bos_token_id", "bos_token"),
    ):
        if key in text and getattr(tokenizer, token, None) is not None:
            text[key] = tokenizer.convert_tokens_to_ids(getattr(tokenizer, token))
    model = data.get("model", {})
    if kind == "qwen_vl":
        for key, attr in (("image_token_id", "image_token"), ("video_token_id", "video_token")):
            model[key] = tokenizer.convert_tokens_to_ids(getattr(tokenizer, attr))
        model["vision_start_token_id"] = tokenizer.convert_tokens_to_ids("<|vision_start|>")
        model["vision_end_token_id"] = tokenizer.convert_tokens_to_ids("<|vision_end|>")
    elif kind == "paligemma":
        model["image_token_index"] = tokenizer.convert_tokens_to_ids("<image>")
    elif kind == "idefics3":
        model["image_token_id"] = tokenizer.convert_tokens_to_ids("<image>")


def _family_of_checkpoint(path: Path) -> str:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{path} has no config.json; pass family=...")
    model_type = json.loads(config_file.read_text()).get("model_type")
    if model_type not in MODEL_TYPE_TO_FAMILY:
        raise ValueError(f"model_type {model_type!r} of {path} is not a known family; pass family=...")
    return MODEL_TYPE_TO_FAMILY[model_type]


def _load_tokenizer(path: Path) -> Any:
    """The tokenizer saved in ``path``, exactly as its ``tokenizer.json`` defines it.

    transformers 5 maps a generic ``TokenizersBackend`` tokenizer of a ``qwen2``/``llama``
    checkpoint to the model's own tokenizer class, which rebuilds the pre-tokenizer and so
    splits text differently from the tokenizer that was saved (our offline BPE). A generic
    class in ``tokenizer_config.json`` is therefore loaded with ``PreTrainedTokenizerFast``.
    """
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if config.get("tokenizer_class") in ("TokenizersBackend", "PreTrainedTokenizerFast"):
        return transformers.PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    return transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)


def backbone_from_config(config: Any, tokenizer_corpus: Sequence[str] | None = None) -> HFBackbone:
    """The backbone a ``BackboneConfig`` describes: loaded from ``path`` or built from its preset,
    then frozen / given LoRA adapters / gradient checkpointing as the config asks.

    A backbone saved with LoRA comes back with its adapters, so they are not added twice.
    """
    if config.path:
        backbone = HFBackbone.from_pretrained(config.path)
    else:
        backbone = HFBackbone.build(
            config.family,
            config.preset,
            image_size=config.image_size or None,
            overrides=dict(config.overrides),
            tokenizer_corpus=tokenizer_corpus,
        )
    if config.freeze:
        backbone.requires_grad_(False)
    if config.lora_rank and not backbone.lora:
        backbone.apply_lora(r=config.lora_rank, alpha=config.lora_alpha)
    if config.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    return backbone


BACKBONE_DIR = "backbone"
"""Where a policy's ``save_pretrained`` writes its transformers backbone (config, tokenizer, adapters)."""


def save_backbone(backbone: HFBackbone, policy_dir: str | Path) -> Path:
    """Write ``backbone`` to ``policy_dir/backbone`` (replacing an older one)."""
    target = Path(policy_dir) / BACKBONE_DIR
    shutil.rmtree(target, ignore_errors=True)
    backbone.save_pretrained(target)
    return target


@contextmanager
def saved_backbone_path(config: Any, policy_dir: str | Path) -> Iterator[None]:
    """Point ``config.path`` (a ``BackboneConfig``) at ``policy_dir/backbone`` while a policy is built
    from a saved directory, so the saved tokenizer and config are used; restored afterwards."""
    saved = Path(policy_dir) / BACKBONE_DIR
    if not saved.is_dir():
        yield
        return
    original = config.path
    config.path = str(saved)
    try:
        yield
    finally:
        config.path = original
