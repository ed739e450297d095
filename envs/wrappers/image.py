"""Resize and crop camera images of a contract vector env (``obs["images"][cam]``: uint8 ``[N, H, W, 3]``)."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from embodied_rl.envs.core import Obs
from embodied_rl.envs.wrappers.base import ObservationTransform, require_env_spec
from gymnasium import spaces


def _pair(size: int | Sequence[int], what: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return int(h), int(w)


def resize_image(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 ``[N, H, W, C]`` images to ``size = (h, w)``.

    Bilinear with antialiasing (``torch.nn.functional.interpolate(..., mode="bilinear",
    antialias=True, align_corners=False)`` on float values), then rounded to the nearest
    integer and clamped to ``[0, 255]``. Upsampling is plain bilinear interpolation; when
    downsampling, the triangle filter is widened by the scale factor, so every input pixel
    contributes (no aliasing).
    """
    if tuple(images.shape[1:3]) == size:
        return images
    x = images.permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _select_cameras(env: gym.vector.VectorEnv, cameras: Sequence[str] | None, wrapper: str) -> list[str]:
    spec = require_env_spec(env, wrapper)
    available = list(spec.image_shapes)
    if not available:
        raise ValueError(f"{wrapper}: env {spec.name} has no images")
    if cameras is None:
        return available
    missing = [c for c in cameras if c not in available]
    if missing:
        raise ValueError(f"{wrapper}: unknown cameras {missing}; the env has {available}")
    return list(cameras)


def _with_image_shapes(space: spaces.Dict, shapes: dict[str, tuple[int, int, int]]) -> spaces.Dict:
    """``space`` with ``images[cam]`` replaced by a uint8 ``Box`` of ``shapes[cam]``."""
    images = dict(space["images"].spaces)
    for cam, shape in shapes.items():
        images[cam] = spaces.Box(0, 255, shape, np.uint8)
    return spaces.Dict({**space.spaces, "images": spaces.Dict(images)})


class _ImageTransform(ObservationTransform):
    """Applies :meth:`image` to the chosen cameras; other cameras and keys pass through."""

    cameras: list[str]

    def image(self, cam: str, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def transform(self, obs: Obs) -> Obs:
        images = dict(obs["images"])
        for cam in self.cameras:
            images[cam] = self.image(cam, images[cam])
        return {**obs, "images": images}


class ResizeImages(_ImageTransform):
    """Resize camera images to ``size`` (see :func:`resize_image` for the filter).

    Applied to reset and step observations and to ``info["final_obs"]``; the spec's image
    shapes become ``(h, w, 3)``.

    Args:
        env: A contract vector env with images.
        size: ``(h, w)``, or one int for a square image.
        cameras: Camera names to resize; ``None``: all.
    """

    def __init__(
        self, env: gym.vector.VectorEnv, size: int | Sequence[int], cameras: Sequence[str] | None = None
    ) -> None:
        self.size = _pair(size, "ResizeImages size")
        self.cameras = _select_cameras(env, cameras, "ResizeImages")
        spec = require_env_spec(env, "ResizeImages")
        channels = {cam: spec.image_shapes[cam][-1] for cam in self.cameras}
        shapes = {cam: (*self.size, channels[cam]) for cam in self.cameras}
        super().__init__(env, observation_space=_with_image_shapes(spec.observation_space, shapes))

    def image(self, cam: str, images: torch.Tensor) -> torch.Tensor:
        return resize_image(images, self.size)


class CropImages(_ImageTransform):
    """Crop camera images to a fixed box or to a centred window.

    Give exactly one of ``box = (top, left, height, width)`` (rows ``top:top+height``,
    columns ``left:left+width``) or ``size = (h, w)`` / ``h`` for a centre crop with
    ``top = (H - h) // 2`` and ``left = (W - w) // 2``. The crop must lie inside every
    chosen camera's image. Applied to reset and step observations and to
    ``info["final_obs"]``; the spec's image shapes become ``(height, width, 3)``.

    Args:
        env: A contract vector env with images.
        box: ``(top, left, height, width)``.
        size: Centre-crop size ``(h, w)`` or one int.
        cameras: Camera names to crop; ``None``: all.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        box: Sequence[int] | None = None,
        size: int | Sequence[int] | None = None,
        cameras: Sequence[str] | None = None,
    ) -> None:
        if (box is None) == (size is None):
            raise ValueError("CropImages needs exactly one of box=(top, left, height, width) or size")
        self.cameras = _select_cameras(env, cameras, "CropImages")
        spec = require_env_spec(env, "CropImages")
        self.boxes: dict[str, tuple[int, int, int, int]] = {}
        for cam in self.cameras:
            big_h, big_w, _ = spec.image_shapes[cam]
            if box is not None:
                if len(box) != 4:
                    raise ValueError(f"CropImages box must be (top, left, height, width), got {box!r}")
                top, left, h, w = (int(v) for v in box)
            else:
                h, w = _pair(size, "CropImages size")  # type: ignore[arg-type]
                top, left = (big_h - h) // 2, (big_w - w) // 2
            if h < 1 or w < 1 or top < 0 or left < 0 or top + h > big_h or left + w > big_w:
                raise ValueError(
                    f"CropImages: crop (top={top}, left={left}, height={h}, width={w}) does not fit "
                    f"camera {cam!r} of size {big_h}x{big_w}"
                )
            self.boxes[cam] = (top, left, h, w)
        shapes = {cam: (h, w, spec.image_shapes[cam][-1]) for cam, (_, _, h, w) in self.boxes.items()}
        super().__init__(env, observation_space=_with_image_shapes(spec.observation_space, shapes))

    def image(self, cam: str, images: torch.Tensor) -> torch.Tensor:
        top, left, h, w = self.boxes[cam]
        return images[:, top : top + h, left : left + w].contiguous()
