"""A small CNN encoder for uint8 camera images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """One conv stack per camera; features are concatenated.

    Each stack: ``Conv3x3(stride 2) -> ReLU`` per entry of ``channels``, then flatten and
    ``Linear -> ReLU`` to ``feature_dim``. Images arrive as uint8 ``[B, H, W, C]`` and are
    scaled to [0, 1] here, so rollout buffers can keep them as uint8.
    """

    def __init__(
        self,
        image_shapes: Mapping[str, Sequence[int]],
        channels: Sequence[int] = (16, 32, 32),
        feature_dim: int = 128,
    ) -> None:
        super().__init__()
        if not image_shapes:
            raise ValueError("ImageEncoder needs at least one camera")
        self.cameras = sorted(image_shapes)
        self.stacks = nn.ModuleDict()
        for cam in self.cameras:
            h, w, c = image_shapes[cam]
            layers: list[nn.Module] = []
            in_ch = c
            for out_ch in channels:
                layers += [nn.Conv2d(in_ch, int(out_ch), 3, stride=2, padding=1), nn.ReLU()]
                in_ch = int(out_ch)
            conv = nn.Sequential(*layers, nn.Flatten())
            with torch.no_grad():
                flat = conv(torch.zeros(1, c, h, w)).shape[-1]
            self.stacks[cam] = nn.Sequential(conv, nn.Linear(flat, feature_dim), nn.ReLU())
        self.out_dim = feature_dim * len(self.cameras)

    def forward(self, images: Mapping[str, torch.Tensor]) -> torch.Tensor:
        feats = []
        for cam in self.cameras:
            x = images[cam].permute(0, 3, 1, 2).float().div_(255.0)
            feats.append(self.stacks[cam](x))
        return torch.cat(feats, dim=-1)
