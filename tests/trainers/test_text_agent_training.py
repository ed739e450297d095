"""The text agent in the training loop: text demonstrations, SFT, GRPO updates on a tool env."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from embodied_rl.run import run_training
from embodied_rl.sft import collect_demos, load_demos, save_demos

TINY = [
    "env.num_envs=8",
    "algo.group_size=4",
    "algo.num_minibatches=1",
    "policy.max_new_tokens=32",
    "policy.max_prompt_tokens=192",
    "eval.episodes=8",
    "eval.every_updates=0",
]


def test_text_demos_collect_and_round_trip(tmp_path: Path) -> None:
    kwargs = {"schemas": "names", "max_turns": 3}
    demos = collect_demos("ToolArithmetic-v0", episodes=5, seed=0, num_envs=4, env_kwargs=kwargs)
    assert demos.success_rate == 1.0 and len(demos) == 10  # a calculator call and an answer each
    assert isinstance(demos.actions, list) and demos.actions[0].startswith("<tool_call>")
    # the answer turns see the calculator's result; the call turns see the question
    answers = [t for t, a in zip(demos.obs["text"], demos.actions, strict=True) if a.startswith("<answer>")]
    assert len(answers) == 5 and all(t.endswith("</tool_result>\n") for t in answers)
    loaded = load_demos(save_demos(demos, tmp_path / "demos"))
    assert loaded.actions == demos.actions and loaded.obs["text"] == demos.obs["text"]


def test_sft_then_grpo_on_a_tool_env(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("tool_arithmetic_grpo", *TINY, "sft.steps=30", "sft.episodes=16", "total_env_steps=48")
    summary = run_training(cfg)
    assert summary.finished and summary.sft is not None
    assert summary.sft["sft/loss_last"] < summary.sft["sft/loss_first"]
    rows = [json.loads(line) for line in (summary.run_dir / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in rows if "train/policy_loss" in r or "train/skipped_update" in r]
    assert len(updates) >= 2
    trained = [r for r in updates if "train/policy_loss" in r]
    for row in trained:
        assert all(torch.isfinite(torch.tensor(v)) for k, v in row.items() if k.startswith("train/"))
        assert row["train/approx_kl"] < 1.0  # first epoch ratios start at 1: rollout and re-scoring agree
    assert all(
        "rollout/invalid_action_per_episode" in r and "rollout/tool_call_per_episode" in r for r in updates
    )
    assert (summary.run_dir / "sft" / "backbone" / "tokenizer.json").is_file()
