"""Tests for embodied_rl.envs.wrappers.video: mp4 writing and episode recording."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import imageio
import numpy as np
import pytest
import torch
from embodied_rl.envs import env_spec
from embodied_rl.envs.core import AUTORESET_MODE
from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env
from embodied_rl.envs.wrappers import RecordEpisodeVideo, write_video

PUSH_LEFT = torch.zeros(1, dtype=torch.long)  # CartPole falls within ~10 steps


def _read(path: Path) -> list[np.ndarray]:
    reader = imageio.get_reader(path)
    try:
        return [np.asarray(frame) for frame in reader]
    finally:
        reader.close()


def _solid(h: int, w: int, rgb: tuple[int, int, int], n: int) -> list[np.ndarray]:
    return [np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy() for _ in range(n)]


def test_write_video_round_trip(tmp_path: Path) -> None:
    frames = _solid(32, 48, (255, 0, 0), 4) + _solid(32, 48, (0, 0, 255), 3)
    path = write_video(tmp_path / "nested" / "dir" / "clip.mp4", frames, fps=10)
    assert path == tmp_path / "nested" / "dir" / "clip.mp4"
    decoded = _read(path)
    assert len(decoded) == 7
    assert decoded[0].shape == (32, 48, 3)
    # colours survive encoding (catches channel-order or frame-order mistakes)
    assert np.abs(decoded[0].mean((0, 1)) - [255, 0, 0]).max() < 20
    assert np.abs(decoded[-1].mean((0, 1)) - [0, 0, 255]).max() < 20


def test_write_video_odd_size_is_padded(tmp_path: Path) -> None:
    frames = _solid(33, 45, (0, 200, 0), 5)
    decoded = _read(write_video(tmp_path / "odd.mp4", frames))
    assert len(decoded) == 5
    assert decoded[0].shape == (34, 46, 3)


def test_write_video_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [])
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        write_video(tmp_path / "float.mp4", [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        write_video(tmp_path / "gray.mp4", [np.zeros((8, 8), np.uint8)])
    assert list(tmp_path.iterdir()) == []


def _cartpole() -> gym.vector.VectorEnv:
    return make_gymnasium_env(1, gym_id="CartPole-v1", render_mode="rgb_array")


def _run_episode(env: RecordEpisodeVideo) -> int:
    """Step until env 0's episode ends; return its length."""
    length = 0
    while True:
        _, _, terminated, truncated, _ = env.step(PUSH_LEFT)
        length += 1
        if bool(terminated[0]) or bool(truncated[0]):
            return length


def test_records_each_episode_of_env_0(tmp_path: Path) -> None:
    env = RecordEpisodeVideo(_cartpole(), tmp_path / "videos", fps=20, name_prefix="cp")
    assert env_spec(env).name == "CartPole-v1"
    assert env.metadata["autoreset_mode"] == AUTORESET_MODE
    env.reset(seed=0)
    first_frame = np.asarray(env.render()[0])
    length = _run_episode(env)
    assert env.videos == [tmp_path / "videos" / "cp-0.mp4"]
    decoded = _read(env.videos[0])
    # SAME_STEP autoreset: one frame per state acted in, the terminal state is not shown
    assert len(decoded) == length
    assert decoded[0].shape == (400, 600, 3)
    assert np.abs(decoded[0].astype(float) - first_frame).mean() < 5

    # the next episode is recorded from the autoreset frame on
    second = _run_episode(env)
    assert env.videos[1] == tmp_path / "videos" / "cp-1.mp4"
    assert len(_read(env.videos[1])) == second
    env.close()
    assert len(env.videos) == 2  # the one-frame recording started by the last step is dropped


def test_max_steps_cuts_the_video(tmp_path: Path) -> None:
    env = RecordEpisodeVideo(_cartpole(), tmp_path, max_steps=4)
    env.reset(seed=0)
    for _ in range(3):
        env.step(PUSH_LEFT)
    assert env.videos == [tmp_path / "episode-0.mp4"]
    assert len(_read(env.videos[0])) == 4
    length = 3 + _run_episode(env)
    assert length > 4 and len(env.videos) == 1  # the rest of that episode is skipped
    _run_episode(env)
    assert len(env.videos) == 2 and len(_read(env.videos[1])) == 4
    env.close()


def test_close_and_reset_keep_unfinished_recordings(tmp_path: Path) -> None:
    env = RecordEpisodeVideo(_cartpole(), tmp_path)
    env.reset(seed=0)
    env.reset(seed=1)  # a one-frame recording is not worth a file
    assert env.videos == []
    env.step(PUSH_LEFT)
    env.step(PUSH_LEFT)
    env.reset(seed=2)
    assert len(env.videos) == 1 and len(_read(env.videos[0])) == 3
    env.step(PUSH_LEFT)
    env.close()
    assert len(env.videos) == 2 and len(_read(env.videos[1])) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode-0.mp4", "episode-1.mp4"]


def test_needs_rgb_array_render_mode(tmp_path: Path) -> None:
    env = make_gymnasium_env(1, gym_id="CartPole-v1")
    with pytest.raises(ValueError, match="rgb_array"):
        RecordEpisodeVideo(env, tmp_path)
    env.close()
