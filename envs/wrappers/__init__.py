"""Wrappers around contract vector envs."""

from __future__ import annotations

from embodied_rl.envs.wrappers.video import RecordEpisodeVideo, write_video

__all__ = ["RecordEpisodeVideo", "write_video"]
