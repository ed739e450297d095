"""Tests for embodied_rl.evaluation.media: annotated frames, episode videos, thumbnails, grids."""

from __future__ import annotations

from pathlib import Path

import imageio
import numpy as np
import pytest
from PIL import Image

from embodied_rl.evaluation.media import GridVideo, annotate_frame, write_episode_video, write_thumbnail

INSTRUCTION = "pick up the red block and place it in the blue bowl on the left side of the table"


def _read(path: Path) -> list[np.ndarray]:
    reader = imageio.get_reader(path)
    try:
        return [np.asarray(frame) for frame in reader]
    finally:
        reader.close()


def _random(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _solid(h: int, w: int, rgb: tuple[int, int, int], n: int) -> list[np.ndarray]:
    return [np.full((h, w, 3), rgb, np.uint8) for _ in range(n)]


def test_tiny_frame_is_upscaled_exactly() -> None:
    frame = _random(32, 32)
    out = annotate_frame(frame)
    assert out.dtype == np.uint8 and out.shape[1] == 256 and out.shape[0] > 256
    np.testing.assert_array_equal(out[:256, :256], frame.repeat(8, 0).repeat(8, 1))


def test_banner_goes_above_the_scene() -> None:
    frame = _random(32, 32)
    plain, with_text = annotate_frame(frame), annotate_frame(frame, INSTRUCTION)
    banner_h = with_text.shape[0] - plain.shape[0]
    assert banner_h > 0 and with_text.shape[1] == plain.shape[1]
    np.testing.assert_array_equal(with_text[banner_h : banner_h + 256, :256], frame.repeat(8, 0).repeat(8, 1))
    assert annotate_frame(frame, "  ").shape == plain.shape  # blank instruction: no banner
    assert annotate_frame(frame, "go").shape[0] < with_text.shape[0]  # fewer wrapped lines


@pytest.mark.parametrize("shape", [(129, 97), (300, 400), (7, 9), (128, 128)])
def test_output_dims_are_even(shape: tuple[int, int]) -> None:
    out = annotate_frame(_random(*shape), INSTRUCTION, True, "step 3")
    assert out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0 and out.shape[2] == 3
    assert min(out.shape[:2]) >= 256


def test_big_frame_is_not_upscaled() -> None:
    frame = _random(300, 400)
    out = annotate_frame(frame)
    assert out.shape[1] == 400
    np.testing.assert_array_equal(out[:300], frame)


def test_size_is_the_same_across_an_episode() -> None:
    frame = _random(32, 48)
    shapes = {
        annotate_frame(frame, INSTRUCTION, status, caption).shape
        for status in (None, True, False)
        for caption in ("", "step 0", "step 999  return -12345.67")
    }
    assert len(shapes) == 1


@pytest.mark.parametrize(("status", "channel"), [(True, 1), (False, 0)])
def test_status_bar_colour(status: bool, channel: int) -> None:
    pixel = annotate_frame(_random(32, 32), INSTRUCTION, status)[-1, 1].astype(int)
    assert pixel[channel] > 100 and pixel[channel] > 2 * max(np.delete(pixel, channel))


def test_status_bar_is_grey_when_unknown() -> None:
    pixel = annotate_frame(_random(32, 32), None, None)[-1, 1].astype(int)
    assert pixel.max() - pixel.min() < 10


def test_write_episode_video(tmp_path: Path) -> None:
    frames = [_random(32, 32, seed) for seed in range(6)]
    path = tmp_path / "videos" / "ep.mp4"
    annotated = write_episode_video(path, frames, INSTRUCTION, True, fps=10, episode_return=3.4)
    assert len(annotated) == 6 and len({a.shape for a in annotated}) == 1
    decoded = _read(path)
    assert len(decoded) == 6 + round(0.5 * 10)
    assert decoded[0].shape == annotated[0].shape
    assert decoded[-1][-1, 1, 1] > 100  # held last frame shows the green success bar


def test_write_thumbnail(tmp_path: Path) -> None:
    frame = annotate_frame(_random(32, 32), INSTRUCTION, False)
    path = write_thumbnail(tmp_path / "thumbs" / "ep.png", frame, width=120)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width == 120
        assert img.height == round(frame.shape[0] * 120 / frame.shape[1])


def test_grid_video(tmp_path: Path) -> None:
    grid = GridVideo(tile_size=160)
    assert grid.write(tmp_path / "none.mp4") is None and not (tmp_path / "none.mp4").exists()
    for n, rgb in [(5, (255, 0, 0)), (8, (0, 255, 0)), (3, (0, 0, 255))]:
        grid.add(_solid(64, 48, rgb, n))
    assert len(grid) == 3
    decoded = _read(grid.write(tmp_path / "grid.mp4", fps=10))
    assert len(decoded) == 8 and decoded[0].shape == (320, 320, 3)
    assert decoded[-1][180:300, 180:300].max() < 30  # empty bottom-right cell is black
    assert decoded[-1][80, 240, 1] > 200 and decoded[-1][240, 80, 2] > 200  # tiles keep their colour
    assert decoded[-1][80, 5].max() < 30  # narrow frames are padded with black


def test_grid_video_ignores_episodes_past_max_tiles() -> None:
    grid = GridVideo(tile_size=16, max_tiles=2)
    for _ in range(4):
        grid.add(_solid(8, 8, (9, 9, 9), 2))
    assert len(grid) == 2


def test_bad_input_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        annotate_frame(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        annotate_frame(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        write_episode_video(tmp_path / "empty.mp4", [], None, None)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        GridVideo().add([np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(ValueError, match="at least one frame"):
        GridVideo().add([])
    assert list(tmp_path.iterdir()) == []
