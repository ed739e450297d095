"""Held-out evaluation seeds: the overlap rule and the config check that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_rl.config import ConfigError, load_config
from embodied_rl.seeding import training_env_seed, training_seed_overlap

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "experiment" / "quickstart.yaml"


def test_training_env_seed_formula() -> None:
    assert training_env_seed(0, 0) == 0
    assert training_env_seed(1, 0) == 1_000_003
    assert training_env_seed(2, 3) == 2 * 1_000_003 + 3 * 9973


def test_overlap_hand_worked() -> None:
    # seed 0: update u resets envs with seeds [9973 u, 9973 u + num_envs)
    assert training_seed_overlap(0, 32, 10**6, first=10_000, count=10) == 1  # 9973..10004 hits 10000
    assert training_seed_overlap(0, 16, 10**6, first=10_000, count=10) is None  # 9973..9988 and 19946..
    assert training_seed_overlap(0, 1, 10**6, first=9973, count=1) == 1
    assert training_seed_overlap(0, 1, 10**6, first=9974, count=1) is None
    assert training_seed_overlap(0, 1, 0, first=9973, count=1) is None  # update 1 never happens
    assert training_seed_overlap(0, 4, 10, first=0, count=1) == 0  # the very first reset
    assert training_seed_overlap(1, 8, 10**6, first=10_000, count=100) is None  # starts at 1_000_003


def test_config_rejects_eval_seeds_that_training_uses() -> None:
    with pytest.raises(ConfigError, match="eval.seed.*overlap the seeds training resets"):
        load_config(QUICKSTART, ["seed=0", "env.num_envs=32", "eval.seed=9980"])
    with pytest.raises(ConfigError, match="eval.seed"):  # update 1 resets 9973..10004; eval starts at 10000
        load_config(QUICKSTART, ["seed=0", "env.num_envs=32"])
    load_config(QUICKSTART, ["seed=0", "env.num_envs=32", "eval.seed=50000"])
    load_config(QUICKSTART, ["seed=0", "env.num_envs=16"])
