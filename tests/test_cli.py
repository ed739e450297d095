"""Tests for the ``embodied-rl`` command (run in-process through ``embodied_rl.cli.main``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import embodied_rl.envs
import pytest
from omegaconf import OmegaConf

from embodied_rl.cli import EXIT_CONFIG_ERROR, main

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = str(REPO / "configs" / "experiment" / "quickstart.yaml")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps tables to the terminal width; make captured output one row per line."""
    monkeypatch.setenv("COLUMNS", "400")


def _row(out: str, name: str) -> str:
    lines = [line for line in out.splitlines() if f" {name} " in line]
    assert len(lines) == 1, f"{name!r} not found exactly once in:\n{out}"
    return lines[0]


def test_envs_lists_specs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    row = _row(out, "CartPole-v1")
    assert "gymnasium/classic_control" in row
    assert "obs: state[4]; action: Discrete(2); max_steps: 500" in row
    assert "images.rgb[16, 16, 3]" in _row(out, "GridGoalPixels-v0")
    assert "action: Box[1]" in _row(out, "Pendulum-v1")
    for name in embodied_rl.envs.ENVS.names():
        _row(out, name)


def test_envs_one_name_and_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "Acrobot-v1"]) == 0
    out = capsys.readouterr().out
    assert "Acrobot-v1" in out and "CartPole-v1" not in out
    assert main(["envs", "CartPol-v1"]) == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert "Did you mean 'CartPole-v1'" in err


def test_envs_no_spec_does_not_build_envs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("envs --no-spec must not build envs")

    monkeypatch.setattr(embodied_rl.envs, "make", boom)
    assert main(["envs", "--no-spec"]) == 0
    out = capsys.readouterr().out
    assert "Balance a pole on a cart (discrete push left/right)." in _row(out, "CartPole-v1")
    assert "gymnasium/mujoco" in _row(out, "HalfCheetah-v5")
    assert "obs:" not in out


def test_policies_lists_mlp_and_cnn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    mlp, cnn = _row(out, "mlp"), _row(out, "cnn")
    assert "hidden_sizes=[64, 64]" in mlp and "activation='tanh'" in mlp
    assert "cnn_channels=[16, 32, 32]" in cnn
    assert "name='mlp'" not in mlp  # policy.name is the row's name, not a config key


def test_train_dry_run_prints_config_with_override(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", QUICKSTART, "algo.lr=0.0123", "env.num_envs=4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    cfg = OmegaConf.create(out)
    assert cfg.algo.lr == pytest.approx(0.0123)
    assert cfg.env.num_envs == 4
    assert cfg.algo.gae_lambda == pytest.approx(0.8)  # from the file
    assert cfg.name == "quickstart"


def test_train_bad_key_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", QUICKSTART, "algo.bogus_key=1", "--dry-run"]) == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert "algo.bogus_key" in err and "command line" in err


def test_train_impossible_combo_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", QUICKSTART, "policy.value_head=false"]) == EXIT_CONFIG_ERROR
    assert "policy.value_head" in capsys.readouterr().err


def test_train_needs_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["train"]) == EXIT_CONFIG_ERROR
    assert "train needs CONFIG" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == EXIT_CONFIG_ERROR
    assert "not found" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == EXIT_CONFIG_ERROR
    assert "no config.yaml" in capsys.readouterr().err


def test_train_help_shows_field_docstrings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "env.num_envs" in out and "Number of parallel envs N in one batch." in out
    assert "with algo.name=ppo:" in out
    assert "algo.gae_lambda" in out and "GAE lambda (1 = Monte-Carlo returns, 0 = one-step TD)." in out
    assert "with algo.name=grpo:" in out and "algo.group_size" in out
    assert "with policy.name=cnn:" in out and "policy.cnn_channels" in out


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        [
            "train",
            QUICKSTART,
            "total_env_steps=4096",
            "algo.num_steps=64",
            "log.video=false",
            "log.progress=false",
            "eval.episodes=2",
            f"run_dir={run_dir}",
        ]
    )
    return code, run_dir


def test_train_tiny_run_writes_outputs(trained_run: tuple[int, Path]) -> None:
    code, run_dir = trained_run
    assert code == 0
    assert (run_dir / "config.yaml").is_file()
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert checkpoints == ["step_4096"]
    assert (run_dir / "checkpoints" / "step_4096" / "model.safetensors").is_file()
    assert (run_dir / "metrics.jsonl").is_file()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows and any("eval/episode_return_mean" in r for r in rows)
    assert any((run_dir / "tb").iterdir())
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert saved.total_env_steps == 4096 and saved.algo.num_steps == 64
    assert not (run_dir / "videos").exists()


def test_eval_run_dir_writes_results(
    trained_run: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_dir = trained_run
    out = tmp_path / "eval"
    args = ["eval", str(run_dir), "--episodes", "3", "--videos", "1", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    (task,) = data["tasks"]
    assert task["env"] == "CartPole-v1"
    episodes = task["episodes"]
    assert [e["seed"] for e in episodes] == [10_000, 10_001, 10_002]
    assert [e["episode_return"] for e in episodes] == [float(e["length"]) for e in episodes]  # 1 per step
    assert episodes[0]["video"] and (out / episodes[0]["video"]).is_file()
    assert episodes[1]["video"] is None  # --videos 1
    assert data["curves"] == ["curves.png"] and (out / "curves.png").is_file()  # the run's learning curves
    for name in ("results.csv", "episodes.csv", "results.md", "report.html"):
        assert (out / name).is_file(), name
    assert "| CartPole-v1 | 3 |" in capsys.readouterr().out

    # parallelism does not change the outcomes of a deterministic policy
    again = tmp_path / "again"
    assert main([*args, "--num-envs", "1", "--out", str(again)]) == 0
    assert json.loads((again / "results.json").read_text())["tasks"][0]["episodes"] == episodes

    # compare the two: identical outcomes, nothing significant
    cmp_dir = tmp_path / "cmp"
    assert main(["eval", "--compare", str(out), str(again), "--labels", "a", "b", "--out", str(cmp_dir)]) == 0
    printed = capsys.readouterr().out
    assert "# Comparison" in printed and "*," not in printed
    assert (cmp_dir / "comparison.html").is_file() and (cmp_dir / "comparison.csv").is_file()


def test_eval_scripted_expert_on_a_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "expert"
    args = ["eval", "scripted:expert", "--suite", "point-reach", "--episodes", "4", "--videos", "0"]
    assert main([*args, "--no-progress", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert [t["name"] for t in data["tasks"]] == ["reach-red", "reach-blue"]
    assert data["summary"]["success_rate"] == 1.0
    assert {e["instruction"] for e in data["tasks"][0]["episodes"]} == {"reach the red target"}
    assert "suite average" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scripted:expert"], "scripted policies need --env or --suite"),
        (["scripted:oracle", "--env", "PointReach-v0"], "unknown scripted policy"),
        (["scripted:expert", "--env", "CartPole-v1"], "no scripted expert for env 'CartPole-v1'"),
        (["scripted:random", "--suite", "point-reach", "--tasks", "reach-green"], "has no task(s)"),
        (["scripted:random", "--suite", "nope"], "suite"),
        (["--compare", "only-one"], "at least two"),
        (["scripted:random", "--env", "PointReach-v0", "--episodes", "0"], "--episodes and --num-envs"),
        ([], "eval needs PATH"),
    ],
)
def test_eval_bad_input_exits_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", *args, "--no-progress", "--out", str(tmp_path / "x")]) == EXIT_CONFIG_ERROR
    assert message in capsys.readouterr().err


def test_eval_policy_that_does_not_fit_the_env_exits_2(
    trained_run: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_dir = trained_run  # a CartPole policy
    args = ["eval", str(run_dir), "--env", "PointReach-v0", "--no-progress", "--out", str(tmp_path / "x")]
    assert main(args) == EXIT_CONFIG_ERROR
    assert "cannot act in task 'PointReach-v0'" in capsys.readouterr().err


def test_suites_lists_point_reach(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suites"]) == 0
    row = _row(capsys.readouterr().out, "point-reach")
    assert "reach-red, reach-blue" in row and "seed 10000 + k" in row


def test_eval_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nowhere")]) == EXIT_CONFIG_ERROR
    assert "does not exist" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fly"])
    assert info.value.code == 2


def test_console_script_runs() -> None:
    script = Path(sys.executable).parent / "embodied-rl"
    assert script.is_file(), f"console script missing at {script}"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("train", "sft", "eval", "suites", "plot", "envs", "policies", "bench"):
        assert command in result.stdout
