"""`embodied-rl demos`: record a scripted expert to the directory format SFT reads."""

from __future__ import annotations

from pathlib import Path

from embodied_rl.cli import main
from embodied_rl.sft import load_demos


def test_demos_command_writes_what_sft_reads(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demos"
    assert main(["demos", "PointReach-v0", "--out", str(out), "--episodes", "5", "--num-envs", "2"]) == 0
    demos = load_demos(out)
    assert len(demos.episode_returns) == 5 and demos.success_rate == 1.0
    assert demos.obs["state"].shape == (len(demos), 7) and len(demos.obs["instruction"]) == len(demos)
    assert "wrote" in capsys.readouterr().out
    # env options after the name, e.g. an image camera
    assert (
        main(["demos", "PointReach-v0", "image_size=8", "--out", str(tmp_path / "px"), "--episodes", "2"])
        == 0
    )
    assert load_demos(tmp_path / "px").obs["images"]["rgb"].shape[1:] == (8, 8, 3)
    assert main(["demos", "PointReach-v0", "--out", str(tmp_path / "x"), "--episodes", "0"]) == 2


def test_demos_command_passes_expert_options(tmp_path: Path, capsys) -> None:
    out = tmp_path / "gui"
    args = ["demos", "GuiSynthetic-v0", "tasks=[click-button]", "--out", str(out), "--episodes", "4"]
    assert main([*args, "--expert", "clicks=refs"]) == 0
    demos = load_demos(out)
    assert demos.success_rate == 1.0 and all(a.startswith("click_element(") for a in demos.actions)
    assert main([*args, "--expert", "speed=2"]) == 2
    assert "has no option(s) ['speed']" in capsys.readouterr().err
