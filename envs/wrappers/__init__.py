"""Wrappers around contract envs, shared by all simulators.

``ActionChunk`` wraps a single Gymnasium env (before vectorisation; see
``make_gymnasium_env(action_chunk=K)``); the others wrap contract vector envs and publish
an updated ``env_spec`` where they change what a policy sees.
"""

from __future__ import annotations

from embodied_rl.envs.wrappers.chunk import ActionChunk
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.envs.wrappers.frame_stack import FrameStack
from embodied_rl.envs.wrappers.image import CropImages, ResizeImages, resize_image
from embodied_rl.envs.wrappers.normalize import (
    NormalizeObservation,
    RescaleAction,
    normalize,
    rescale_action,
    welford_merge,
)
from embodied_rl.envs.wrappers.video import RecordEpisodeVideo, write_video

__all__ = [
    "ActionChunk",
    "CropImages",
    "EpisodeStatistics",
    "FrameStack",
    "NormalizeObservation",
    "RecordEpisodeVideo",
    "RescaleAction",
    "ResizeImages",
    "normalize",
    "rescale_action",
    "resize_image",
    "welford_merge",
    "write_video",
]
