"""SFT warm start: demonstrations from scripted experts, run_sft, and SFT before PPO in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.envs.experts import EXPERTS
from embodied_rl.policies import Policy, build_policy

from embodied_rl.run import run_training
from embodied_rl.sft import collect_demos, load_demos, run_sft, save_demos


def test_expert_demos_are_successful_and_round_trip(tmp_path: Path) -> None:
    demos = collect_demos("PointReach-v0", episodes=6, seed=0, num_envs=4)
    assert len(demos.episode_returns) == 6 and demos.success_rate == 1.0
    assert demos.actions.shape == (len(demos), 2) and len(demos.obs["instruction"]) == len(demos)
    noisy = collect_demos("PointReach-v0", episodes=6, seed=0, num_envs=4, noise=1.0)
    assert not torch.equal(noisy.actions[:5], demos.actions[:5])
    loaded = load_demos(save_demos(demos, tmp_path / "demos"))
    assert torch.equal(loaded.actions, demos.actions) and torch.equal(loaded.obs["state"], demos.obs["state"])
    assert loaded.obs["instruction"] == demos.obs["instruction"]
    assert loaded.episode_returns == demos.episode_returns
    with pytest.raises(FileNotFoundError, match="sft --save-demos"):
        load_demos(tmp_path / "missing")


def test_sft_demos_merges_several_saved_directories(tmp_path: Path) -> None:
    from embodied_rl.config.schema import SFTConfig
    from embodied_rl.sft import demos_for

    first = collect_demos("PointReach-v0", episodes=2, seed=0, num_envs=2)
    second = collect_demos("PointReach-v0", episodes=3, seed=100, num_envs=2)
    save_demos(first, tmp_path / "a")
    save_demos(second, tmp_path / "b")
    merged = demos_for(SFTConfig(demos=f"{tmp_path / 'a'}, {tmp_path / 'b'}"), "PointReach-v0", {}, 2)
    assert len(merged) == len(first) + len(second)
    assert torch.equal(merged.actions, torch.cat([first.actions, second.actions]))
    assert merged.episode_returns == first.episode_returns + second.episode_returns
    with pytest.raises(ValueError, match="names no directory"):
        demos_for(SFTConfig(demos=" , "), "PointReach-v0", {}, 2)


def test_unknown_expert_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="CartPole-v1"):
        EXPERTS.get("CartPole-v1")


@pytest.mark.parametrize("preset", ["mlp", "vla_tokens_mlp", "vla_flow_sde_mlp"])
def test_sft_imitates_the_expert(preset: str) -> None:
    from embodied_rl.policies import POLICIES
    from omegaconf import OmegaConf

    raw = OmegaConf.load(Path(__file__).resolve().parents[2] / "configs" / "policy" / f"{preset}.yaml")
    cls = POLICIES.get(raw["name"])
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.config_class), raw))
    env = make("PointReach-v0", num_envs=1)
    torch.manual_seed(0)
    policy = build_policy(config, env_spec(env))
    env.close()
    demos = collect_demos("PointReach-v0", episodes=40, seed=0, num_envs=8)
    with torch.no_grad():
        before = (policy.act(demos.obs, deterministic=True).actions - demos.actions).abs().mean()
    losses = run_sft(policy, demos, steps=300, batch_size=128, lr=1e-3, progress=False)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        after = (policy.act(demos.obs, deterministic=True).actions - demos.actions).abs().mean()
    assert after < 0.5 * before, (before, after)


@pytest.mark.slow
def test_sft_then_ppo_in_one_run(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "point_reach_flow_sde",
        "sft.steps=50",
        "sft.episodes=8",
        "total_env_steps=2048",
        "eval.episodes=8",
        "env.num_envs=8",
        "algo.num_steps=32",
    )
    summary = run_training(cfg)
    assert summary.sft is not None and summary.sft_eval is not None
    assert summary.sft["sft/loss_last"] < summary.sft["sft/loss_first"]
    assert summary.finished and summary.eval is not None
    warm = Policy.from_pretrained(summary.run_dir / "sft")
    assert type(warm).__name__ == "VLAPolicy"
    from embodied_rl.logging import read_metrics

    rows = read_metrics(summary.run_dir)
    first = [r for r in rows if r.get("step") == 0 and "eval/success_rate" in r]
    assert first and "sft/loss_last" in first[0]


def test_sft_command_saves_demos_and_policy(tmp_path: Path) -> None:
    from embodied_rl.cli import main

    run = tmp_path / "run"
    config = Path(__file__).resolve().parents[2] / "configs" / "experiment" / "point_reach_tokens.yaml"
    args = ["sft", str(config), "sft.steps=20", "sft.episodes=4", "eval.episodes=4"]
    code = main([*args, f"run_dir={run}", "log.progress=false", "--save-demos", str(tmp_path / "demos")])
    assert code == 0
    assert (run / "sft" / "model.safetensors").is_file() and (
        tmp_path / "demos" / "demos.safetensors"
    ).is_file()
    # the run's config is kept, so `eval <run>/sft` finds the run's env options
    from embodied_rl.config import load_config

    assert load_config(run / "config.yaml").sft.steps == 20
    # the saved demos are reusable, and a config without sft.steps is refused
    code = main(
        [*args, f"run_dir={tmp_path / 'run2'}", "log.progress=false", f"sft.demos={tmp_path / 'demos'}"]
    )
    assert code == 0
    assert main(["sft", str(config.with_name("quickstart.yaml"))]) == 2


def test_bf16_autocast_run_logs_params_and_memory(make_cfg) -> None:
    from embodied_rl.config import ConfigError
    from embodied_rl.run import build_trainer

    cfg = make_cfg(
        "point_reach_flow_sde", "precision=bf16", "total_env_steps=256", "env.num_envs=4", "algo.num_steps=32"
    )
    trainer = build_trainer(cfg)
    try:
        trainer.collector.reset(seed=0)
        metrics = trainer.train_one_update()
    finally:
        trainer.close()
    assert metrics["policy/params_total"] == sum(p.numel() for p in trainer.policy.parameters())
    assert metrics["policy/params_trainable"] <= metrics["policy/params_total"]
    assert metrics["time/peak_rss_mb"] > 10
    assert all(torch.isfinite(torch.tensor(v)) for k, v in metrics.items() if k.startswith("train/"))
    with pytest.raises(ConfigError, match="precision"):
        make_cfg("point_reach_flow_sde", "precision=fp8")


def test_sft_linear_schedule_decays_the_rate_to_zero() -> None:
    """``lr_schedule="linear"``: step k uses lr * (1 - k / steps); a bad name is refused."""
    weight = torch.nn.Parameter(torch.zeros(1))

    class Probe(torch.nn.Module):
        """A one-parameter "policy" whose SFT loss is ``w`` itself: Adam moves w by about lr per step."""

        def __init__(self) -> None:
            super().__init__()
            self.w = weight

        def sft_loss(self, obs, actions):
            return self.w.sum()

    from embodied_rl.sft import Demonstrations

    demos = Demonstrations({"state": torch.zeros(4, 1)}, ["a"] * 4, [0.0], [True])
    probe = Probe()
    run_sft(probe, demos, steps=4, batch_size=2, lr=1.0, progress=False, lr_schedule="linear")
    # Adam's first steps move a parameter with a constant gradient by exactly lr each: 1 + 0.75 + 0.5 + 0.25.
    assert weight.item() == pytest.approx(-2.5, abs=1e-4)
    with pytest.raises(ValueError, match="constant or linear"):
        run_sft(probe, demos, steps=1, lr_schedule="cosine", progress=False)


def test_critic_warmup_moves_only_the_critic(make_cfg) -> None:
    from embodied_rl.trainers.ppo import PPOTrainer

    cfg = make_cfg("quickstart", "algo.critic_warmup_updates=2", "env.num_envs=4", "algo.num_steps=16")
    trainer = PPOTrainer(cfg)
    try:
        snapshot = {k: v.clone() for k, v in trainer.policy.state_dict().items()}
        trainer.collector.reset(seed=0)
        metrics = trainer.train_one_update()
        assert metrics["train/critic_warmup"] == 1.0
        moved = {k for k, v in trainer.policy.state_dict().items() if not torch.equal(v, snapshot[k])}
        assert moved and all(k.startswith(("critic_trunk", "value_head")) for k in moved), moved
        trainer.train_one_update()
        after_warmup = trainer.train_one_update()  # update 3: the policy gradient is on again
        assert "train/critic_warmup" not in after_warmup
        actor = {
            k: v for k, v in trainer.policy.state_dict().items() if not k.startswith(("critic", "value"))
        }
        assert any(not torch.equal(v, snapshot[k]) for k, v in actor.items())
    finally:
        trainer.close()
