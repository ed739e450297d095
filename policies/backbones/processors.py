"""Image-only processors for the VLM backbones; none needs torchvision.

The stock ``Qwen2VLProcessor`` (and 2.5 / 3) constructors want a video processor, whose class
needs torchvision. The processors here take an image processor (the ``*ImageProcessorPil``
classes) and a tokenizer only, and add one thing to the stock ones: every camera image (uint8
``HxWx3`` numpy array or torch tensor, or a PIL image) is resized to a square ``image_size``
first, so every image of a family gives the same number of image tokens whatever the camera.

Each round-trips through ``save_pretrained(dir)`` / ``<Class>.from_pretrained(dir)``. Load
with the explicit class: ``AutoProcessor.from_pretrained(dir)`` does not know these classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import (
    BatchFeature,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    PaliGemmaProcessor,
    PreTrainedTokenizerBase,
    Qwen2VLImageProcessorPil,
    SiglipImageProcessorPil,
)
from transformers.processing_utils import ProcessorMixin


def to_pil(image: Any, size: int | None = None) -> Image.Image:
    """A uint8 ``HxWx3`` array / tensor (or PIL image) as an RGB PIL image, resized to ``size``².

    Raises:
        ValueError: The array is not ``HxWx3`` uint8.
    """
    if isinstance(image, Image.Image):
        pil = image.convert("RGB")
    else:
        arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"images must be uint8 HxWx3, got {arr.dtype} {tuple(arr.shape)}")
        pil = Image.fromarray(np.ascontiguousarray(arr))  # uint8 HxWx3 -> RGB
    if size is not None and pil.size != (size, size):
        pil = pil.resize((size, size), Image.Resampling.BILINEAR)
    return pil


def _resize_nested(images: Any, size: int | None) -> Any:
    if isinstance(images, (list, tuple)):
        return [_resize_nested(x, size) for x in images]
    return to_pil(images, size)


class QwenVLImageOnlyProcessor(ProcessorMixin):
    """Qwen2-VL / Qwen2.5-VL / Qwen3-VL processor without the video processor.

    Each ``<|image_pad|>`` of the text becomes ``t*h*w / merge_size**2`` image tokens and
    ``mm_token_type_ids`` (1 on image tokens) is returned: the models need it for 3D RoPE.

    Args:
        image_processor: A ``Qwen2VLImageProcessorPil``.
        tokenizer: Tokenizer with the Qwen special tokens.
        chat_template: Optional chat template.
        image_size: Square side images are resized to first (None: keep their size).
    """

    return_mm_token_type_ids = True
    text_kwargs = {"return_token_type_ids": False}

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        image_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        super().__init__(image_processor, tokenizer, chat_template=chat_template)
        self.image_size = image_size

    def __call__(self, images: Any = None, text: Any = None, **kwargs: Any) -> Any:
        """Like the stock processor; images are resized to ``image_size`` first."""
        if images is not None:
            images = _resize_nested(images, self.image_size)
        return super().__call__(images=images, text=text, **kwargs)

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs: Any) -> str:
        """``<|image_pad|>`` repeated once per merged patch of image ``image_idx``."""
        merge_length = self.image_processor.merge_size**2
        return self.image_token * int(image_inputs["image_grid_thw"][image_idx].prod() // merge_length)

    @property
    def model_input_names(self) -> list[str]:
        """Inputs the model takes: tokenizer's, image processor's and ``mm_token_type_ids``."""
        return super().model_input_names + ["mm_token_type_ids"]


class PaliGemmaImageOnlyProcessor(PaliGemmaProcessor):
    """``PaliGemmaProcessor`` resizing camera images to ``image_size`` first.

    The prompt becomes ``<image>*N*cams <bos> text \\n`` (the stock PaliGemma layout); the
    ``labels`` the stock processor adds are dropped. ``token_type_ids`` stay (0 = prefix).
    """

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        image_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, chat_template=chat_template)
        self.image_size = image_size

    def __call__(self, images: Any = None, text: Any = None, **kwargs: Any) -> Any:
        """Like the stock processor; images are resized to ``image_size`` first."""
        if images is not None:
            images = _resize_nested(images, self.image_size)
        return_tensors = kwargs.pop("return_tensors", None)  # the stock labels code wants lists
        out = super().__call__(images=images, text=text, **kwargs)
        out.pop("labels", None)
        return BatchFeature(dict(out), tensor_type=return_tensors)


class Idefics3ImageOnlyProcessor(Idefics3Processor):
    """``Idefics3Processor`` (SmolVLM) resizing camera images to ``image_size`` first.

    With ``do_image_splitting=False`` each image becomes
    ``<fake_token_around_image><global-img><image>*image_seq_len<fake_token_around_image>``.
    """

    def __init__(
        self,
        image_processor: Any,
        tokenizer: Any = None,
        image_seq_len: int = 169,
        chat_template: str | None = None,
        image_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, image_seq_len=image_seq_len, chat_template=chat_template)
        self.image_size = image_size

    def __call__(self, images: Any = None, text: Any = None, **kwargs: Any) -> Any:
        """Like the stock processor; images are resized to ``image_size`` first."""
        if images is not None:
            images = _resize_nested(images, self.image_size)
        return super().__call__(images=images, text=text, **kwargs)


PROCESSOR_CLASSES: dict[str, type[ProcessorMixin]] = {
    "qwen_vl": QwenVLImageOnlyProcessor,
    "paligemma": PaliGemmaImageOnlyProcessor,
    "idefics3": Idefics3ImageOnlyProcessor,
}


def build_processor(
    kind: str,
    tokenizer: PreTrainedTokenizerBase,
    vision: Mapping[str, Any],
    image_size: int,
    scale_factor: int = 2,
) -> ProcessorMixin:
    """Builds the image-only processor of a family kind for square ``image_size`` images.

    Args:
        kind: ``qwen_vl``, ``paligemma`` or ``idefics3`` (see ``presets.Family.kind``).
        tokenizer: The tokenizer (it holds the image token).
        vision: The vision config as a dict (``patch_size``, ``spatial_merge_size`` ...).
        image_size: Square side of the model's images.
        scale_factor: Idefics3 pixel-shuffle factor (``config.scale_factor``).

    Raises:
        ValueError: ``image_size`` does not fit the vision tower's patching.
    """
    patch = int(vision["patch_size"])
    template = getattr(tokenizer, "chat_template", None)
    if kind == "qwen_vl":
        merge = int(vision.get("spatial_merge_size", 2))
        if image_size % (patch * merge):
            raise ValueError(f"image_size {image_size} must be a multiple of patch*merge = {patch * merge}")
        image_processor = Qwen2VLImageProcessorPil(
            size={"shortest_edge": image_size**2, "longest_edge": image_size**2},
            patch_size=patch,
            merge_size=merge,
            temporal_patch_size=int(vision.get("temporal_patch_size", 2)),
        )
        return QwenVLImageOnlyProcessor(
            image_processor, tokenizer, chat_template=template, image_size=image_size
        )
    if image_size % patch:
        raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch}")
    if kind == "paligemma":
        image_processor = SiglipImageProcessorPil(
            size={"height": image_size, "width": image_size},
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )
        image_processor.image_seq_length = (image_size // patch) ** 2
        return PaliGemmaImageOnlyProcessor(
            image_processor, tokenizer, chat_template=template, image_size=image_size
        )
    if kind == "idefics3":
        if (image_size // patch) % scale_factor:
            raise ValueError(f"image_size/patch_size must be a multiple of scale_factor {scale_factor}")
        image_processor = Idefics3ImageProcessorPil(
            do_image_splitting=False,
            size={"longest_edge": image_size},
            max_image_size={"longest_edge": image_size},
            resample=Image.Resampling.BILINEAR,
        )
        seq_len = (image_size // patch) ** 2 // scale_factor**2
        return Idefics3ImageOnlyProcessor(
            image_processor, tokenizer, image_seq_len=seq_len, chat_template=template, image_size=image_size
        )
    raise ValueError(f"no processor for family kind {kind!r}")
