"""Episode videos (mp4) from ``render()`` frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio
import numpy as np
from embodied_rl.envs.core import env_idx_to_mask


def _check_frame(frame: Any) -> np.ndarray:
    """A uint8 ``HxWx3`` frame padded to even height and width.

    libx264's yuv420p output (the pixel format every player can decode) halves the
    chroma resolution, so odd sizes are rejected by the encoder even with
    ``macro_block_size=1``; the last row/column is repeated instead of resizing.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"video frames must be uint8 HxWx3, got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


class Mp4Writer:
    """Stream frames into an mp4 (frames are not kept in memory)."""

    def __init__(self, path: Path, fps: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0
        self._shape: tuple[int, ...] | None = None
        self._writer = imageio.get_writer(
            self.path,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            quality=7,  # imageio's 0-10 scale; 7 keeps renders sharp at a few hundred KB
            macro_block_size=1,  # never let imageio resize frames
            pixelformat="yuv420p",
            ffmpeg_log_level="error",
        )

    def append(self, frame: Any) -> None:
        frame = _check_frame(frame)
        if self._shape is not None and frame.shape != self._shape:
            raise ValueError(f"video frame shape changed from {self._shape} to {frame.shape}")
        self._shape = frame.shape
        self._writer.append_data(frame)
        self.frames += 1

    def close(self) -> None:
        self._writer.close()
        # imageio-ffmpeg can swallow an encoder failure and leave an empty file behind
        if self.frames and (not self.path.exists() or self.path.stat().st_size == 0):
            raise RuntimeError(f"ffmpeg wrote no video to {self.path}")


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 30) -> Path:
    """Write uint8 ``HxWx3`` frames to an H.264 mp4.

    Args:
        path: Output file; parent directories are created.
        frames: The frames, all of one size. Odd sizes are padded by one row/column.
        fps: Frames per second.

    Returns:
        ``path``.

    Raises:
        ValueError: ``frames`` is empty or a frame is not uint8 ``HxWx3``.
    """
    if len(frames) == 0:
        raise ValueError(f"no frames to write to {path}")
    checked = [_check_frame(f) for f in frames]  # validate all before creating the file
    writer = Mp4Writer(Path(path), fps)
    try:
        for frame in checked:
            writer.append(frame)
    finally:
        writer.close()
    return Path(path)


class RecordEpisodeVideo(gym.vector.VectorWrapper):
    """Record env 0's episodes as mp4 via ``env.render()``.

    The wrapped env must be made with ``render_mode="rgb_array"``; a vector env's
    ``render()`` returns one frame per env and only env 0's is kept. Each episode is
    written to ``video_dir/{name_prefix}-{k}.mp4`` (``k`` = 0, 1, ...) when it ends or
    when it reaches ``max_steps`` frames (the rest of that episode is then skipped);
    the written paths are in :attr:`videos`. Frames are streamed to disk, not buffered.

    Contract envs autoreset ``SAME_STEP``: after a step that ends an episode, the env
    already shows the first state of the next episode. That frame starts the next
    video, so each video shows the states the policy acted in and not the final
    (terminal) state. A ``reset()`` of env 0 or :meth:`close` ends an unfinished
    recording and keeps it if it has at least two frames.

    With ``annotate=True`` every frame goes through
    :func:`embodied_rl.evaluation.media.annotate_frame`: env 0's instruction
    (``obs["instruction"][0]`` when the env has one) in a banner above, ``"step k"`` in the
    status bar below, and on the last frame of an episode that ended (not one cut by
    ``max_steps``, ``reset`` or ``close``) the episode's success (``info["success"][0]``,
    green/red; grey when the env reports none). To know which frame is the last, each
    frame is written one step later than it is rendered.

    Args:
        env: A contract vector env made with ``render_mode="rgb_array"``.
        video_dir: Where the videos go (created on the first video).
        max_steps: Most frames in one video.
        fps: Frames per second of the videos.
        name_prefix: File name prefix.
        annotate: Add the instruction banner and success status bar to each frame.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        video_dir: Path,
        max_steps: int = 1000,
        fps: int = 30,
        name_prefix: str = "episode",
        annotate: bool = False,
    ) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"RecordEpisodeVideo needs an env made with render_mode='rgb_array', "
                f"got render_mode={env.render_mode!r}"
            )
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if "env_spec" in vars(env):
            # embodied_rl.envs.env_spec() looks for it on each wrapper layer's own attributes
            self.env_spec = env.env_spec
        self.metadata = dict(env.metadata)
        self.video_dir = Path(video_dir)
        self.max_steps = max_steps
        self.fps = fps
        self.name_prefix = name_prefix
        self.annotate = annotate
        self.videos: list[Path] = []
        self._writer: Mp4Writer | None = None
        # the last rendered frame, written once the next step shows whether it ends the episode
        self._pending: np.ndarray | None = None
        self._instruction: str | None = None

    def _frame(self) -> np.ndarray:
        frames = self.env.render()
        if frames is None:
            raise RuntimeError("env.render() returned None; make the env with render_mode='rgb_array'")
        if isinstance(frames, np.ndarray) and frames.ndim == 3:
            return frames  # a single-env render
        return np.asarray(frames[0])

    def _flush(self, status: bool | None = None) -> None:
        """Write the pending frame (annotated with ``status`` when annotating)."""
        if self._writer is None or self._pending is None:
            return
        frame, self._pending = self._pending, None
        if self.annotate:
            from embodied_rl.evaluation.media import annotate_frame  # media imports this module

            frame = annotate_frame(frame, self._instruction, status, caption=f"step {self._writer.frames}")
        self._writer.append(frame)

    def _queued(self) -> int:
        """Frames of the running recording, written or pending."""
        return 0 if self._writer is None else self._writer.frames + (self._pending is not None)

    def _start(self, obs: Any) -> None:
        path = self.video_dir / f"{self.name_prefix}-{len(self.videos)}.mp4"
        self._writer = Mp4Writer(path, self.fps)
        instruction = obs.get("instruction") if isinstance(obs, dict) else None
        self._instruction = None if instruction is None else str(instruction[0])
        self._pending = self._frame()

    def _finish(self, min_frames: int = 1, status: bool | None = None) -> None:
        if self._writer is None:
            return
        self._flush(status)
        writer, self._writer = self._writer, None
        writer.close()
        if writer.frames >= min_frames:
            self.videos.append(writer.path)
        else:
            writer.path.unlink(missing_ok=True)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset; a reset that includes env 0 starts a new recording."""
        obs, info = self.env.reset(seed=seed, options=options)
        env_idx = (options or {}).get("env_idx")
        if env_idx is None or env_idx_to_mask(env_idx, self.num_envs)[0]:
            self._finish(min_frames=2)
            self._start(obs)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Step, recording env 0's frame (rendered only while a recording is running)."""
        obs, reward, terminated, truncated, info = self.env.step(actions)
        if bool(terminated[0]) or bool(truncated[0]):
            success = bool(info["success"][0]) if "success" in info else None
            self._finish(status=success)
            self._start(obs)  # SAME_STEP: this frame is the next episode's first
        elif self._writer is not None:
            self._flush()
            self._pending = self._frame()
            if self._queued() >= self.max_steps:
                self._finish()
        return obs, reward, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        """Write an unfinished recording (two frames or more) and close the env."""
        self._finish(min_frames=2)
        super().close(**kwargs)
