"""Architecture presets for the transformers backbones, as plain data.

Every family has a ``tiny`` preset (1-20M parameters, 2 layers, 56-64 px images: tests and CPU
learning runs) and a ``large`` preset with the numbers of the published checkpoint its lineage
starts from. Both presets of a family have exactly the same keys; only the numbers differ.

A preset is a dict with up to four parts:

* ``text``: kwargs of the language model's config (the text sub-config for VLMs);
* ``vision``: kwargs of the vision tower's config (VLMs only);
* ``model``: kwargs of the top-level VLM config (special token ids, projector sizes);
* ``image_size``: the square side images are resized to before the processor (VLMs only).

Special token ids of the ``tiny`` presets are those of
:func:`embodied_rl.policies.backbones.tokenizer.build_tokenizer` for the family (its special
tokens come first in the vocabulary, in a fixed order); the ``large`` ones are the published ids.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import transformers


@dataclass(frozen=True)
class Family:
    """How a family maps onto transformers classes.

    Attributes:
        name: Family name (``qwen2_5_vl``, ``paligemma``, ...).
        kind: Code path: ``qwen_vl``, ``paligemma``, ``idefics3`` or ``text``.
        config_class: Name of the top-level ``PretrainedConfig`` class in ``transformers``.
        model_class: Name of the ``*ForConditionalGeneration`` / ``*ForCausalLM`` class.
        lineage: The published checkpoint the ``large`` preset copies.
    """

    name: str
    kind: str
    config_class: str
    model_class: str
    lineage: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "qwen2_5_vl",
            "qwen_vl",
            "Qwen2_5_VLConfig",
            "Qwen2_5_VLForConditionalGeneration",
            "Qwen/Qwen2.5-VL-3B-Instruct",
        ),
        Family(
            "qwen2_vl",
            "qwen_vl",
            "Qwen2VLConfig",
            "Qwen2VLForConditionalGeneration",
            "Qwen/Qwen2-VL-2B-Instruct",
        ),
        Family(
            "qwen3_vl",
            "qwen_vl",
            "Qwen3VLConfig",
            "Qwen3VLForConditionalGeneration",
            "Qwen/Qwen3-VL-2B-Instruct",
        ),
        Family(
            "paligemma",
            "paligemma",
            "PaliGemmaConfig",
            "PaliGemmaForConditionalGeneration",
            "google/paligemma-3b-pt-224",
        ),
        Family(
            "idefics3",
            "idefics3",
            "Idefics3Config",
            "Idefics3ForConditionalGeneration",
            "HuggingFaceTB/SmolVLM-256M-Instruct",
        ),
        Family(
            "smolvlm",
            "idefics3",
            "SmolVLMConfig",
            "SmolVLMForConditionalGeneration",
            "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
        ),
        Family("qwen2", "text", "Qwen2Config", "Qwen2ForCausalLM", "Qwen/Qwen2-0.5B-Instruct"),
        Family("llama", "text", "LlamaConfig", "LlamaForCausalLM", "meta-llama/Llama-3.2-1B-Instruct"),
    )
}

# ``config.model_type`` of a saved checkpoint -> family.
MODEL_TYPE_TO_FAMILY: dict[str, str] = {name: name for name in FAMILIES}


def _qwen_text(hidden: int, inter: int, layers: int, heads: int, kv: int, vocab: int, max_pos: int) -> dict:
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "max_position_embeddings": max_pos,
        "rms_norm_eps": 1e-6,
    }


_QWEN_TINY_IDS = {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 0}
_QWEN_REAL_IDS = {"bos_token_id": 151643, "eos_token_id": 151645, "pad_token_id": 151643}
_QWEN_TINY_VL_IDS = {
    "image_token_id": 6,
    "video_token_id": 7,
    "vision_start_token_id": 3,
    "vision_end_token_id": 4,
}
_QWEN_REAL_VL_IDS = {
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
}


def _qwen2_5_vl(tiny: bool) -> dict[str, Any]:
    if tiny:
        text = _qwen_text(128, 512, 2, 4, 2, 1024, 4096)
        vision = {
            "depth": 2,
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_heads": 4,
            "out_hidden_size": 128,
        }
        vision |= {"window_size": 112, "fullatt_block_indexes": [1], "tokens_per_second": 2}
        mrope, ids, vl_ids, size, tie = [4, 6, 6], _QWEN_TINY_IDS, _QWEN_TINY_VL_IDS, 56, False
    else:  # Qwen2.5-VL-3B-Instruct
        text = _qwen_text(2048, 11008, 36, 16, 2, 151936, 128000)
        vision = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16}
        vision |= {"out_hidden_size": 2048, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]}
        vision |= {"tokens_per_second": 2}
        mrope, ids, vl_ids, size, tie = [16, 24, 24], _QWEN_REAL_IDS, _QWEN_REAL_VL_IDS, 224, True
    text |= ids | {"rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": mrope}}
    vision |= {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    return {
        "text": text,
        "vision": vision,
        "model": {**vl_ids, "tie_word_embeddings": tie},
        "image_size": size,
    }


def _qwen2_vl(tiny: bool) -> dict[str, Any]:
    if tiny:
        text = _qwen_text(128, 512, 2, 4, 2, 1024, 4096)
        vision = {"depth": 2, "embed_dim": 128, "hidden_size": 128, "mlp_ratio": 2, "num_heads": 4}
        mrope, ids, vl_ids, size, tie = [4, 6, 6], _QWEN_TINY_IDS, _QWEN_TINY_VL_IDS, 56, False
    else:  # Qwen2-VL-2B-Instruct
        text = _qwen_text(1536, 8960, 28, 12, 2, 151936, 32768)
        vision = {"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "mlp_ratio": 4, "num_heads": 16}
        mrope, ids, vl_ids, size, tie = [16, 24, 24], _QWEN_REAL_IDS, _QWEN_REAL_VL_IDS, 224, True
    text |= ids | {"rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": mrope}}
    vision |= {"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    return {
        "text": text,
        "vision": vision,
        "model": {**vl_ids, "tie_word_embeddings": tie},
        "image_size": size,
    }


def _qwen3_vl(tiny: bool) -> dict[str, Any]:
    if tiny:
        text = _qwen_text(128, 512, 2, 4, 2, 1024, 4096) | {"head_dim": 32}
        vision = {
            "depth": 2,
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_heads": 4,
            "out_hidden_size": 128,
        }
        vision |= {"num_position_embeddings": 64, "deepstack_visual_indexes": [0]}
        mrope, theta, ids, vl_ids, size, tie = [8, 4, 4], 5e6, _QWEN_TINY_IDS, _QWEN_TINY_VL_IDS, 64, False
    else:  # Qwen3-VL-2B-Instruct
        text = _qwen_text(2048, 6144, 28, 16, 8, 151936, 262144) | {"head_dim": 128}
        vision = {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16}
        vision |= {
            "out_hidden_size": 2048,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
        }
        mrope, theta, ids, vl_ids, size, tie = [24, 20, 20], 5e6, _QWEN_REAL_IDS, _QWEN_REAL_VL_IDS, 224, True
    text["pad_token_id"] = ids["pad_token_id"]
    text["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": theta,
        "mrope_section": mrope,
        "mrope_interleaved": True,
    }
    vision |= {"patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2}
    return {
        "text": text,
        "vision": vision,
        "model": {**vl_ids, "tie_word_embeddings": tie},
        "image_size": size,
    }


def _paligemma(tiny: bool) -> dict[str, Any]:
    if tiny:
        text = {"vocab_size": 2048, "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2}
        text |= {
            "num_attention_heads": 4,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "max_position_embeddings": 4096,
        }
        vision = {
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        }
        vision |= {"patch_size": 14}
        model = {"vocab_size": 2048, "projection_dim": 128, "hidden_size": 128, "image_token_index": 4}
        size = 56
    else:  # paligemma-3b-pt-224: SigLIP-So400m/14 + Gemma-2B
        text = {
            "vocab_size": 257216,
            "hidden_size": 2048,
            "intermediate_size": 16384,
            "num_hidden_layers": 18,
        }
        text |= {
            "num_attention_heads": 8,
            "num_key_value_heads": 1,
            "head_dim": 256,
            "max_position_embeddings": 8192,
        }
        vision = {
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_hidden_layers": 27,
            "num_attention_heads": 16,
        }
        vision |= {"patch_size": 14}
        model = {
            "vocab_size": 257216,
            "projection_dim": 2048,
            "hidden_size": 2048,
            "image_token_index": 257152,
        }
        size = 224
    text |= {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2, "rms_norm_eps": 1e-6}
    text |= {"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}
    vision |= {"vision_use_head": False}
    return {"text": text, "vision": vision, "model": model, "image_size": size}


def _idefics3(tiny: bool, smol2: bool) -> dict[str, Any]:
    if tiny:
        text = {"vocab_size": 1024, "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2}
        text |= {"num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096}
        text |= {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
        vision = {
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        }
        vision |= {"patch_size": 16}
        model = {"image_token_id": 5, "scale_factor": 2}
        size = 64
    else:  # SmolVLM-256M-Instruct (idefics3) / SmolVLM2-500M-Video-Instruct (smolvlm, SmolVLA's backbone)
        hidden, inter, layers, heads, kv = (960, 2560, 32, 15, 5) if smol2 else (576, 1536, 30, 9, 3)
        text = {
            "vocab_size": 49280,
            "hidden_size": hidden,
            "intermediate_size": inter,
            "num_hidden_layers": layers,
        }
        text |= {"num_attention_heads": heads, "num_key_value_heads": kv, "max_position_embeddings": 8192}
        text |= {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
        vision = {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
        }
        vision |= {"patch_size": 16}
        model = {"image_token_id": 49190, "scale_factor": 4}
        size = 512
    text |= {"rms_norm_eps": 1e-5, "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0}}
    return {
        "text": text,
        "vision": vision,
        "model": {**model, "tie_word_embeddings": False},
        "image_size": size,
    }


def _qwen2(tiny: bool) -> dict[str, Any]:
    if tiny:
        text = _qwen_text(128, 768, 2, 4, 2, 2048, 4096) | _QWEN_TINY_IDS | {"tie_word_embeddings": False}
    else:  # Qwen2-0.5B-Instruct
        text = (
            _qwen_text(896, 4864, 24, 14, 2, 151936, 32768) | _QWEN_REAL_IDS | {"tie_word_embeddings": True}
        )
    text |= {"rope_parameters": {"rope_type": "default", "rope_theta": 1e6}}
    return {"text": text}


def _llama(tiny: bool) -> dict[str, Any]:
    if tiny:
        text = {"vocab_size": 2048, "hidden_size": 128, "intermediate_size": 768, "num_hidden_layers": 2}
        text |= {
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
            "max_position_embeddings": 4096,
        }
        text |= {"bos_token_id": 0, "eos_token_id": 4, "pad_token_id": 5, "tie_word_embeddings": False}
        original_max = 1024
    else:  # Llama-3.2-1B-Instruct
        text = {"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16}
        text |= {
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "head_dim": 64,
            "max_position_embeddings": 131072,
        }
        text |= {
            "bos_token_id": 128000,
            "eos_token_id": 128009,
            "pad_token_id": 128004,
            "tie_word_embeddings": True,
        }
        original_max = 8192
    text |= {"rms_norm_eps": 1e-5}
    text["rope_parameters"] = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": original_max,
    }
    return {"text": text}


_BUILDERS = {
    "qwen2_5_vl": _qwen2_5_vl,
    "qwen2_vl": _qwen2_vl,
    "qwen3_vl": _qwen3_vl,
    "paligemma": _paligemma,
    "idefics3": lambda tiny: _idefics3(tiny, smol2=False),
    "smolvlm": lambda tiny: _idefics3(tiny, smol2=True),
    "qwen2": _qwen2,
    "llama": _llama,
}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    name: {"tiny": build(True), "large": build(False)} for name, build in _BUILDERS.items()
}


def get_family(name: str) -> Family:
    """Returns the :class:`Family` called ``name``.

    Raises:
        KeyError: Unknown family (the message lists the known ones).
    """
    if name not in FAMILIES:
        raise KeyError(f"unknown backbone family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key != "rope_parameters":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def preset_dict(family: str, preset: str = "tiny", **overrides: Any) -> dict[str, Any]:
    """A deep copy of a preset with ``overrides`` merged in (nested dicts merge key by key).

    Args:
        family: Family name.
        preset: ``tiny`` or ``large``.
        **overrides: e.g. ``text={"num_hidden_layers": 4}, image_size=64``.

    Returns:
        The merged preset (safe to mutate).
    """
    get_family(family)
    if preset not in PRESETS[family]:
        raise KeyError(f"unknown preset {preset!r} for {family}; known: {sorted(PRESETS[family])}")
    return _merge(copy.deepcopy(PRESETS[family][preset]), overrides)


def config_from_preset(family: str, data: Mapping[str, Any]) -> transformers.PretrainedConfig:
    """Builds the transformers config object a preset dict describes (no weights).

    Args:
        family: Family name.
        data: A preset dict (see :func:`preset_dict`).

    Returns:
        The top-level config (``Qwen2_5_VLConfig``, ``PaliGemmaConfig``, ``LlamaConfig``, ...).
    """
    fam = get_family(family)
    config_cls = getattr(transformers, fam.config_class)
    text = dict(data["text"])
    if fam.kind == "text":
        return config_cls(**text)
    vision = dict(data["vision"])
    model = dict(data.get("model", {}))
    if fam.kind in ("paligemma", "idefics3"):
        vision["image_size"] = int(data["image_size"])
    if fam.kind == "paligemma":
        vision["model_type"] = "siglip_vision_model"
        text["model_type"] = "gemma"
    elif fam.kind == "idefics3":
        text["model_type"] = "llama"
    return config_cls(text_config=text, vision_config=vision, **model)


def preset_config(family: str, preset: str = "tiny", **overrides: Any) -> transformers.PretrainedConfig:
    """The config object of a preset, with ``overrides`` merged in first (see :func:`preset_dict`).

    Example:
        >>> cfg = preset_config("qwen2_5_vl", "tiny", text={"num_hidden_layers": 4})
    """
    return config_from_preset(family, preset_dict(family, preset, **overrides))
