"""Annotated episode videos, thumbnails and tiled per-task grid videos for evaluation reports.

Frames are uint8 ``HxWx3`` arrays from ``env.render()``. :func:`annotate_frame` upscales a
frame and adds an instruction banner above it and a status bar below it, so the scene
itself is never drawn over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from embodied_rl.envs.wrappers.video import Mp4Writer, write_video

__all__ = ["GridVideo", "annotate_frame", "write_episode_video", "write_thumbnail"]

BANNER_BG = (24, 24, 24)
TEXT_COLOUR = (255, 255, 255)
STATUS_BG = {True: (30, 150, 60), False: (190, 35, 35), None: (70, 70, 70)}
STATUS_LABEL = {True: "SUCCESS", False: "FAILURE", None: ""}


def _check_frame(frame: Any) -> np.ndarray:
    """``frame`` as a contiguous uint8 ``HxWx3`` array, else ``ValueError``."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ValueError(f"frames must be non-empty uint8 HxWx3 arrays, got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _upscale(frame: np.ndarray, min_size: int) -> np.ndarray:
    """Nearest-neighbour upscale by the smallest integer factor making ``min(H, W) >= min_size``."""
    short = min(frame.shape[:2])
    factor = 1 if short >= min_size else math.ceil(min_size / short)
    return frame.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else frame


@lru_cache(maxsize=32)
def _font(width: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font, sized for an image ``width`` pixels wide."""
    return ImageFont.load_default(size=max(10, width // 20))


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    bottom = int(font.getbbox("Agjy|")[3])
    return bottom + max(2, bottom // 4)


def _split_word(word: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """``word`` cut into pieces no wider than ``width`` (one character at least per piece)."""
    pieces = [""]
    for ch in word:
        if pieces[-1] and font.getlength(pieces[-1] + ch) > width:
            pieces.append("")
        pieces[-1] += ch
    return pieces


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines at most ``width`` pixels wide."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.extend(_split_word(word, font, width))
    return lines


def annotate_frame(
    frame: np.ndarray,
    instruction: str | None = None,
    status: bool | None = None,
    caption: str = "",
    min_size: int = 256,
) -> np.ndarray:
    """Upscale a frame and add an instruction banner above and a status bar below it.

    The output size depends only on the frame size, ``min_size`` and the number of wrapped
    instruction lines, so all frames of one episode (same instruction) have the same size.
    The upscaled scene sits unchanged at column 0, right below the banner.

    Args:
        frame: A uint8 ``HxWx3`` frame.
        instruction: Text for the banner (word-wrapped); no banner when ``None`` or blank.
        status: ``True`` -> green "SUCCESS" bar, ``False`` -> red "FAILURE", ``None`` -> grey.
        caption: Extra text in the status bar, e.g. ``"step 12  return 3.40"``.
        min_size: Upscale (nearest neighbour, integer factor) until ``min(H, W) >= min_size``.

    Returns:
        A uint8 ``HxWx3`` frame with even height and width.

    Raises:
        ValueError: ``frame`` is not a non-empty uint8 ``HxWx3`` array.
    """
    image = _upscale(_check_frame(frame), min_size)
    h, w = image.shape[:2]
    font = _font(w)
    line_h = _line_height(font)
    pad = max(2, line_h // 3)
    lines = _wrap(instruction, font, w - 2 * pad) if instruction and instruction.strip() else []
    banner_h = 2 * pad + len(lines) * line_h if lines else 0
    height = banner_h + h + 2 * pad + line_h
    canvas = Image.new("RGB", (w + w % 2, height + height % 2), BANNER_BG)
    draw = ImageDraw.Draw(canvas)
    status = None if status is None else bool(status)
    draw.rectangle((0, banner_h + h, canvas.width, canvas.height), fill=STATUS_BG[status])
    canvas.paste(Image.fromarray(image), (0, banner_h))
    for i, line in enumerate(lines):
        draw.text((pad, pad + i * line_h), line, font=font, fill=TEXT_COLOUR)
    bar_text = "  ".join(t for t in (STATUS_LABEL[status], caption) if t)
    draw.text((pad, banner_h + h + pad), bar_text, font=font, fill=TEXT_COLOUR)
    return np.asarray(canvas)


def _caption(step: int, episode_return: float | None) -> str:
    return f"step {step}" if episode_return is None else f"step {step}  return {episode_return:.2f}"


def write_episode_video(
    path: Path,
    frames: Sequence[np.ndarray],
    instruction: str | None,
    success: bool | None,
    fps: int = 10,
    episode_return: float | None = None,
    hold_last_s: float = 0.5,
) -> list[np.ndarray]:
    """Write an annotated mp4 of one episode.

    Every frame gets the instruction banner and a grey status bar captioned ``"step k"``
    (``k`` from 0); the last frame shows ``success`` and, if given, the episode return,
    and is held for ``round(hold_last_s * fps)`` extra video frames.

    Args:
        path: Output mp4; parent directories are created.
        frames: The episode's rendered uint8 ``HxWx3`` frames, all of one size.
        instruction: The episode's language instruction, or ``None``.
        success: The episode outcome, ``None`` when the env has no success signal.
        fps: Frames per second.
        episode_return: The episode return, shown on the last frame.
        hold_last_s: Seconds the last frame is held.

    Returns:
        The annotated frames, one per input frame (the held copies are not repeated).

    Raises:
        ValueError: ``frames`` is empty or a frame is not uint8 ``HxWx3``.
    """
    if len(frames) == 0:
        raise ValueError(f"no frames to write to {path}")
    last = len(frames) - 1
    annotated = [
        annotate_frame(frame, instruction, None, _caption(k, None)) for k, frame in enumerate(frames[:last])
    ]
    annotated.append(annotate_frame(frames[last], instruction, success, _caption(last, episode_return)))
    hold = [annotated[-1]] * max(0, round(hold_last_s * fps))
    write_video(path, annotated + hold, fps=fps)
    return annotated


def write_thumbnail(path: Path, frame: np.ndarray, width: int = 240) -> Path:
    """Save ``frame`` as a PNG resized to ``width`` pixels wide (aspect ratio kept).

    Args:
        path: Output PNG; parent directories are created.
        frame: A uint8 ``HxWx3`` frame, typically from :func:`annotate_frame`.
        width: Thumbnail width in pixels.

    Returns:
        ``path``.

    Raises:
        ValueError: ``width < 1`` or ``frame`` is not uint8 ``HxWx3``.
    """
    if width < 1:
        raise ValueError(f"thumbnail width must be >= 1, got {width}")
    arr = _check_frame(frame)
    height = max(1, round(arr.shape[0] * width / arr.shape[1]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).resize((width, height), Image.Resampling.LANCZOS).save(path, format="PNG")
    return path


def write_strip(path: Path, frames: Sequence[np.ndarray], max_frames: int = 8, gap: int = 4) -> Path:
    """Save the first ``max_frames`` frames of an episode side by side as one PNG (a screenshot strip).

    Frames may differ in size (they are top-aligned on white, ``gap`` pixels apart); every frame
    must be uint8 ``HxWx3``.

    Raises:
        ValueError: no frames, or ``max_frames < 1``.
    """
    if not frames or max_frames < 1:
        raise ValueError(f"a strip needs frames and max_frames >= 1 (got {len(frames)} frames, {max_frames})")
    tiles = [_check_frame(f) for f in list(frames)[:max_frames]]
    height = max(t.shape[0] for t in tiles)
    strip = np.full((height, sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1), 3), 255, np.uint8)
    x = 0
    for tile in tiles:
        strip[: tile.shape[0], x : x + tile.shape[1]] = tile
        x += tile.shape[1] + gap
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path, format="PNG")
    return path


def _shrink(frame: np.ndarray, tile_size: int) -> np.ndarray:
    """``frame`` resized to fit inside ``tile_size x tile_size`` (aspect ratio kept, not padded)."""
    arr = _check_frame(frame)
    h, w = arr.shape[:2]
    scale = tile_size / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(arr).resize(size, resample))


class GridVideo:
    """Episodes of one task, tiled into one mp4 (:meth:`write`).

    Each added frame is resized to fit a ``tile_size`` square, centred on black. Only these
    small copies are kept; episodes past ``max_tiles`` are ignored.

    Args:
        tile_size: Side of one grid cell in pixels.
        max_tiles: Most episodes kept.
    """

    def __init__(self, tile_size: int = 160, max_tiles: int = 16) -> None:
        if tile_size < 2 or max_tiles < 1:
            raise ValueError(f"need tile_size >= 2 and max_tiles >= 1, got {tile_size}, {max_tiles}")
        self.tile_size = tile_size
        self.max_tiles = max_tiles
        self._episodes: list[list[np.ndarray]] = []

    def __len__(self) -> int:
        """Number of episodes kept (at most ``max_tiles``)."""
        return len(self._episodes)

    def add(self, frames: Sequence[np.ndarray]) -> None:
        """Add one episode's frames; ignored once ``max_tiles`` episodes are kept.

        Raises:
            ValueError: ``frames`` is empty or a frame is not uint8 ``HxWx3``.
        """
        if len(frames) == 0:
            raise ValueError("GridVideo.add needs at least one frame")
        if len(self._episodes) < self.max_tiles:
            self._episodes.append([_shrink(frame, self.tile_size) for frame in frames])

    def _frame(self, t: int, rows: int, cols: int) -> np.ndarray:
        """Grid frame ``t``; episodes that ended show their last frame."""
        ts = self.tile_size
        grid = np.zeros((rows * ts, cols * ts, 3), np.uint8)
        for i, episode in enumerate(self._episodes):
            tile = episode[min(t, len(episode) - 1)]
            y = (i // cols) * ts + (ts - tile.shape[0]) // 2
            x = (i % cols) * ts + (ts - tile.shape[1]) // 2
            grid[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        return grid

    def write(self, path: Path, fps: int = 10) -> Path | None:
        """Write the grid mp4 (``ceil(sqrt(n))`` columns, as long as the longest episode).

        Frames are streamed to the encoder, so the full grid video is never held in memory.

        Args:
            path: Output mp4; parent directories are created.
            fps: Frames per second.

        Returns:
            ``path``, or ``None`` (nothing written) when no episode was added.
        """
        if not self._episodes:
            return None
        cols = math.ceil(math.sqrt(len(self._episodes)))
        rows = math.ceil(len(self._episodes) / cols)
        writer = Mp4Writer(Path(path), fps)
        try:
            for t in range(max(len(episode) for episode in self._episodes)):
                writer.append(self._frame(t, rows, cols))
        finally:
            writer.close()
        return Path(path)
