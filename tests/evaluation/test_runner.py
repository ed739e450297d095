"""run_evaluation end to end: parallelism invariance, suites, videos, Ctrl-C, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.policies import POLICIES, build_policy

from embodied_rl.evaluation.results import EvalReport
from embodied_rl.evaluation.runner import check_policy_fits, run_evaluation
from embodied_rl.evaluation.scripted import scripted_policy
from embodied_rl.evaluation.suites import SuiteTask, get_suite

REACH = SuiteTask("PointReach-v0", "PointReach-v0")


def _policy(env_name: str = "PointReach-v0", seed: int = 0):
    torch.manual_seed(seed)
    env = make(env_name, num_envs=1)
    policy = build_policy(POLICIES.get("mlp").config_class(hidden_sizes=[16]), env_spec(env))
    env.close()
    return policy


def _expert(task: SuiteTask, spec):
    return scripted_policy("expert", task.env, spec.action_space)


def _outcomes(report: EvalReport) -> list[tuple]:
    return [(t.name, e.seed, e.episode_return, e.length, e.success) for t in report.tasks for e in t.episodes]


def test_outcomes_do_not_depend_on_num_envs(tmp_path: Path) -> None:
    policy = _policy()
    kwargs = dict(policy_name="mlp", episodes=7, seed=100, videos=0, progress=False)
    one = run_evaluation(policy, [REACH], tmp_path / "one", num_envs=1, **kwargs)
    three = run_evaluation(policy, [REACH], tmp_path / "three", num_envs=3, **kwargs)  # waves 3+3+1
    assert [e.seed for e in one.tasks[0].episodes] == list(range(100, 107))
    a, b = _outcomes(one), _outcomes(three)
    assert [x[:2] + x[3:] for x in a] == [x[:2] + x[3:] for x in b]  # seeds, lengths, successes: exact
    # returns up to float32 rounding: a batched matmul may round differently from a single row
    assert [x[2] for x in a] == pytest.approx([x[2] for x in b], rel=1e-5, abs=1e-6)
    assert len({x[2] for x in a}) > 1  # the episodes really differ from each other


def test_scripted_expert_solves_the_suite_and_writes_everything(tmp_path: Path) -> None:
    suite = get_suite("point-reach")
    report = run_evaluation(
        _expert, suite.tasks, tmp_path, policy_name="scripted:expert", episodes=3, seed=suite.seed,
        num_envs=2, videos=2, suite=suite.name, progress=False,
    )  # fmt: skip
    assert not report.partial
    assert [t.name for t in report.tasks] == ["reach-red", "reach-blue"]
    assert report.summary.success_rate == 1.0 and report.summary.n == 6
    red = report.tasks[0]
    assert {e.instruction for e in red.episodes} == {"reach the red target"}
    assert [e.video is not None for e in red.episodes] == [True, True, False]
    for e in red.episodes[:2]:
        assert (tmp_path / e.video).stat().st_size > 0 and (tmp_path / e.thumbnail).is_file()
    assert red.grid_video and (tmp_path / red.grid_video).is_file()
    for name in ("results.json", "results.csv", "episodes.csv", "results.md", "report.html", "success.png"):
        assert (tmp_path / name).is_file(), name
    again = EvalReport.load(tmp_path)
    assert _outcomes(again) == _outcomes(report) and again.suite == "point-reach"
    assert "reach-red" in (tmp_path / "results.md").read_text()


class _InterruptAfter:
    """Wraps a policy; raises KeyboardInterrupt (a Ctrl-C) on its n-th act call."""

    def __init__(self, policy, calls: int) -> None:
        self.policy, self.calls, self.training, self.spec = policy, calls, False, policy.spec

    def act(self, obs, deterministic=True):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return self.policy.act(obs, deterministic=deterministic)

    def train(self, mode=True):
        return self


def test_ctrl_c_keeps_finished_episodes_and_marks_the_report_partial(tmp_path: Path) -> None:
    policy = _InterruptAfter(_policy(), calls=30 * 2 + 5)  # two whole episodes at num_envs=1 (30 steps each)
    report = run_evaluation(
        policy,
        [REACH],
        tmp_path,
        policy_name="mlp",
        episodes=10,
        seed=0,
        num_envs=1,
        videos=0,
        progress=False,
    )
    assert report.partial
    task = report.tasks[0]
    assert 1 <= task.n < 10 and not task.complete
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["partial"] is True and len(data["tasks"][0]["episodes"]) == task.n
    assert "PARTIAL" in (tmp_path / "results.md").read_text()
    assert "partial" in (tmp_path / "report.html").read_text().lower()


def test_a_crash_mid_run_keeps_finished_episodes(tmp_path: Path) -> None:
    class Crash(_InterruptAfter):
        def act(self, obs, deterministic=True):
            self.calls -= 1
            if self.calls < 0:
                raise RuntimeError("simulator died")
            return self.policy.act(obs, deterministic=deterministic)

    with pytest.raises(RuntimeError, match="simulator died"):
        run_evaluation(
            Crash(_policy(), 65), [REACH], tmp_path, policy_name="mlp", episodes=10, seed=0, num_envs=1,
            videos=0, progress=False,
        )  # fmt: skip
    report = EvalReport.load(tmp_path)
    assert report.partial and report.tasks[0].n >= 1
    assert any("simulator died" in note for note in report.notes)


def test_a_policy_that_does_not_fit_the_task_is_a_clear_error(tmp_path: Path) -> None:
    cartpole = _policy("CartPole-v1")
    with pytest.raises(ValueError, match="cannot act in task 'PointReach-v0'.*action space"):
        run_evaluation(cartpole, [REACH], tmp_path, policy_name="x", episodes=1, seed=0, progress=False)
    spec = env_spec(make("PointReach-v0", num_envs=1))
    check_policy_fits(_policy().spec, spec, "ok")  # same env: fits


def test_progress_bar_shows_running_success(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    run_evaluation(
        _expert, [REACH], tmp_path, policy_name="scripted:expert", episodes=4, seed=0, num_envs=2,
        videos=0, console=console,
    )  # fmt: skip
    text = buffer.getvalue()
    assert "4/4" in text and "success 4/4 (100%)" in text and "eta" in text


def test_stochastic_evaluation_is_reproducible(tmp_path: Path) -> None:
    policy = _policy()
    kwargs = dict(
        policy_name="mlp", episodes=4, seed=7, num_envs=2, videos=0, progress=False, deterministic=False
    )
    a = run_evaluation(policy, [REACH], tmp_path / "a", **kwargs)
    b = run_evaluation(policy, [REACH], tmp_path / "b", **kwargs)
    greedy = run_evaluation(policy, [REACH], tmp_path / "c", **{**kwargs, "deterministic": True})
    assert _outcomes(a) == _outcomes(b)
    assert _outcomes(a) != _outcomes(greedy)  # it really sampled
