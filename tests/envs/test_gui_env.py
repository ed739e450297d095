"""GuiEnv on the synthetic backend: observations, the grammar, invalid actions, rewards, rendering."""

from __future__ import annotations

import numpy as np
import pytest
from embodied_rl.envs.gui.base import Element
from embodied_rl.envs.gui.env import GuiEnv, describe_elements, parse_listing
from gymnasium.utils.env_checker import check_env


def _env(**kwargs) -> GuiEnv:
    return GuiEnv(backend="synthetic", **{"tasks": ["click-button"], **kwargs})


def _ref_of(env: GuiEnv, text: str) -> int:
    assert env.page is not None
    return next(e.ref for e in env.page.elements if e.tag == "button" and e.text == text)


def _target(env: GuiEnv) -> str:
    assert env.page is not None
    return env.page.instruction.split('"')[1]


def test_check_env_and_observation_keys() -> None:
    env = _env(tasks=None)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert set(obs) == {"screen", "instruction", "text"} and obs["screen"].shape == (210, 160, 3)
    assert info["task"] in env.tasks and obs["text"].endswith("Next action:\n")
    env.close()


def test_same_seed_same_task_and_page() -> None:
    a, b = _env(tasks=None), _env(tasks=None)
    for seed in range(6):
        oa, _ = a.reset(seed=seed)
        ob, _ = b.reset(seed=seed)
        assert oa["text"] == ob["text"] and np.array_equal(oa["screen"], ob["screen"])
    assert len({a.reset(seed=s)[1]["task"] for s in range(40)}) == len(a.tasks)


def test_right_click_succeeds_and_wrong_one_fails() -> None:
    env = _env()
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(f"click_element({_ref_of(env, _target(env))})")
    assert (reward, terminated, truncated, info["success"], info["action_valid"]) == (
        1.0,
        True,
        False,
        True,
        True,
    )
    for seed in range(30):
        env.reset(seed=seed)
        wrong = [e for e in env.page.elements if e.tag == "button" and e.text != _target(env)]
        if wrong:
            _, reward, terminated, _, info = env.step(f"click_element({wrong[0].ref})")
            assert (reward, terminated, info["success"]) == (-1.0, True, False)
            return
    pytest.fail("no seed with a wrong button")


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("clik(3, 4)", "unknown action"),
        ("click_element(99)", "no element with ref 99"),
        ("click(999, 4)", "outside"),
        ("", "empty action"),
        ("x" * 10_000, "the limit is 512"),
    ],
)
def test_invalid_actions_are_counted_penalised_and_explained(action: str, error: str) -> None:
    env = _env(invalid_penalty=0.5)
    before, _ = env.reset(seed=1)
    obs, reward, terminated, _, info = env.step(action)
    assert reward == -0.5 and not terminated
    assert info["invalid_action"] and not info["action_valid"] and error in info["error"]
    assert np.array_equal(obs["screen"], before["screen"])  # the page is unchanged
    assert "Last action was invalid: " in obs["text"] and "Previous actions: <invalid>" in obs["text"]
    # the next valid action clears the error
    obs, *_ = env.step('scroll(10, 60, "down")')
    assert "Last action was invalid" not in obs["text"]


def test_end_on_invalid_and_done() -> None:
    env = _env(end_on_invalid=True, invalid_penalty=1.0)
    env.reset(seed=1)
    assert env.step("nonsense")[1:3] == (-1.0, True)
    env = _env()
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step("done()")
    assert (reward, terminated, info["success"]) == (0.0, True, False)


def test_format_and_action_type_shaping() -> None:
    env = _env(format_reward=0.1, action_type_reward=0.2, tasks=["click-test"])
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step('scroll(10, 60, "down")')  # valid, not the expert's kind
    assert reward == pytest.approx(0.1) and not terminated
    button = next(e for e in env.page.elements if e.tag == "button")
    x, y = button.center
    _, reward, terminated, _, _ = env.step(f"click({x:.0f}, {y:.0f})")  # the expert's kind: click
    assert reward == pytest.approx(1.0 + 0.1 + 0.2) and terminated


@pytest.mark.parametrize("mode", ["raw", "binary", "success", "time"])
def test_reward_modes(mode: str) -> None:
    env = _env(reward=mode, tasks=["click-test"], max_steps=4)
    env.reset(seed=0)
    env.step('scroll(10, 60, "down")')
    button = next(e for e in env.page.elements if e.tag == "button")
    reward = env.step(f"click_element({button.ref})")[1]
    # time: success at step 2 of 4 -> 1 - 0.5 * 1/4
    assert reward == {"raw": 1.0, "binary": 1.0, "success": 1.0, "time": 0.875}[mode]


@pytest.mark.parametrize(("mode", "expected"), [("raw", -1.0), ("binary", -1.0), ("success", 0.0)])
def test_a_failed_task_scores_by_mode(mode: str, expected: float) -> None:
    """A wrong button ends click-button unsolved: -1 under raw/binary, 0 under success."""
    env = _env(reward=mode, tasks=["click-button"], max_steps=4)
    env.reset(seed=2)  # buttons Cancel, ok, Yes, previous; the target is ok
    wrong = next(e for e in env.page.elements if e.tag == "button" and e.text != _target(env))
    _, reward, terminated, _, info = env.step(f"click_element({wrong.ref})")
    assert terminated and not info["success"]
    assert reward == expected


def test_resized_screen_and_pixel_frame() -> None:
    env = _env(screen_size=(80, 105))
    obs, _ = env.reset(seed=2)
    assert obs["screen"].shape == (105, 80, 3)
    target = next(e for e in parse_listing(obs["text"]) if e.tag == "button" and e.text == _target(env))
    x, y = target.center  # listed in the 80x105 frame
    assert x < 80 and y < 105
    _, reward, _, _, info = env.step(f"click({x:.0f}, {y:.0f})")
    assert info["success"] and reward == 1.0
    assert env.step("click(100, 10)")[-1]["error"] if not env.page.done else True


def test_normalized_coordinates() -> None:
    env = _env(coords="normalized")
    obs, _ = env.reset(seed=2)
    target = next(e for e in parse_listing(obs["text"]) if e.tag == "button" and e.text == _target(env))
    assert 0 <= target.center[0] <= 1 and 0 <= target.center[1] <= 1
    _, reward, _, _, info = env.step(f"click({target.center[0]:.3f}, {target.center[1]:.3f})")
    assert info["success"] and info["action"].startswith("click(0.")


def test_history_keeps_the_last_actions() -> None:
    env = _env(history=2, tasks=["click-test"])
    env.reset(seed=0)
    for y in (60, 61, 62):
        obs, *_ = env.step(f'scroll(10, {y}, "down")')
    assert 'Previous actions: scroll(10, 61, "down"); scroll(10, 62, "down")' in obs["text"]
    assert "Previous actions" not in _env(history=0).reset(seed=0)[0]["text"]


def test_listing_round_trips_through_text() -> None:
    elements = [
        Element(1, "button", 'say "hi"\nnow', 10, 20, 30, 10),
        Element(2, "input_text", "", 0, 40, 100, 12, value="a; b", focused=True),
        Element(3, "input_checkbox", "", 5, 60, 10, 10, checked=False),
    ]
    back = parse_listing("noise\n" + "\n".join(describe_elements(elements, (1.0, 1.0), "pixels")))
    assert [(e.ref, e.tag, e.text, e.value, e.focused, e.checked) for e in back] == [
        (1, "button", 'say "hi"\nnow', "", False, None),
        (2, "input_text", "", "a; b", True, None),
        (3, "input_checkbox", "", "", False, False),
    ]
    assert [e.center for e in back] == [(25.0, 25.0), (50.0, 46.0), (10.0, 65.0)]


def test_render_draws_the_action() -> None:
    env = _env(render_mode="rgb_array", tasks=["click-test"])
    env.reset(seed=0)
    before = env.render()
    env.step("click(20, 100)")
    after = env.render()
    assert before.shape == after.shape and before.shape[1] == 320 and not np.array_equal(before, after)
    red = (after[..., 0] > 200) & (after[..., 1] < 60) & (after[..., 2] < 60)
    assert red[28 + 190 : 28 + 210, 30:50].any()  # the cross-hair at (20, 100) * 2


def test_bad_options_fail_clearly() -> None:
    with pytest.raises(ValueError, match="unknown synthetic tasks"):
        GuiEnv(tasks=["no-such-task"])
    with pytest.raises(ValueError, match="coords"):
        GuiEnv(coords="inches")
    with pytest.raises(ValueError, match="reward"):
        GuiEnv(reward="dense")
