"""Tests for embodied_rl.config: YAML presets, CLI overrides, validation and help text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from embodied_rl.config import ConfigError, TrainConfig, load_config, parse_overrides, to_yaml
from embodied_rl.config.help import describe, field_docs, format_rows

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
EXPERIMENTS = sorted(CONFIGS.glob("experiment/*.yaml"))
QUICKSTART = CONFIGS / "experiment" / "quickstart.yaml"
GRPO = CONFIGS / "experiment" / "cartpole_grpo.yaml"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def config_tree(tmp_path: Path) -> Path:
    """A private ``configs/`` tree with one preset per section used below."""
    root = tmp_path / "configs"
    _write(root / "algo" / "tiny_ppo.yaml", "name: ppo\nnum_steps: 16\nlr: 0.5\nupdate_epochs: 3\n")
    _write(root / "env" / "tiny_env.yaml", "name: Pendulum-v1\nnum_envs: 4\n")
    return root


def test_experiment_files_are_found() -> None:
    assert QUICKSTART in EXPERIMENTS and GRPO in EXPERIMENTS


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_shipped_experiment_loads(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig)
    assert cfg.name == path.stem  # defaults to the file's stem
    from embodied_rl.envs import ENVS
    from embodied_rl.policies import POLICIES

    from embodied_rl.algorithms import ALGORITHMS

    assert type(cfg.algo) is ALGORITHMS.get(cfg.algo.name).config_class
    assert type(cfg.policy) is POLICIES.get(cfg.policy.name).config_class
    assert cfg.env.name in ENVS


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_to_yaml_round_trips(path: Path, tmp_path: Path) -> None:
    cfg = load_config(path, ["seed=7"])
    saved = _write(tmp_path / "saved.yaml", to_yaml(cfg))
    again = load_config(saved)
    assert again == cfg
    assert type(again.algo) is type(cfg.algo)
    assert type(again.policy) is type(cfg.policy)


def test_to_yaml_rejects_non_dataclass() -> None:
    with pytest.raises(TypeError):
        to_yaml({"a": 1})


def test_shipped_presets_are_merged_and_file_keys_win() -> None:
    cfg = load_config(QUICKSTART)
    # from presets: configs/env/cartpole.yaml, configs/policy/mlp.yaml, configs/algo/ppo.yaml
    assert cfg.env.name == "CartPole-v1" and cfg.env.num_envs == 8
    assert cfg.policy.name == "mlp" and cfg.policy.hidden_sizes == [64, 64]
    assert cfg.algo.name == "ppo" and cfg.algo.vf_coef == 0.5
    # the file's own keys override the preset (configs/algo/ppo.yaml says lr 3e-4, lambda 0.95)
    assert cfg.algo.lr == pytest.approx(1e-3)
    assert cfg.algo.gae_lambda == pytest.approx(0.8)
    assert cfg.algo.num_steps == 256

    # a preset value that differs from the dataclass default really comes through
    cnn = load_config(CONFIGS / "experiment" / "gridgoal_cnn_ppo.yaml")
    assert cnn.policy.cnn_channels == [16, 32]  # configs/policy/cnn.yaml; the default is [16, 32, 32]
    assert cnn.env.num_envs == 16 and cnn.env.name == "GridGoalPixels-v0"


def test_private_presets_merge_order(config_tree: Path) -> None:
    exp = _write(
        config_tree / "experiment" / "mine.yaml",
        "defaults:\n  env: tiny_env\n  algo: tiny_ppo\nalgo:\n  lr: 0.25\n",
    )
    cfg = load_config(exp)
    assert cfg.algo.num_steps == 16 and cfg.algo.update_epochs == 3  # from the preset
    assert cfg.algo.lr == 0.25  # the file beats the preset
    assert cfg.env.name == "Pendulum-v1" and cfg.env.num_envs == 4
    assert cfg.name == "mine"

    cfg = load_config(exp, ["algo.lr=0.125", "algo.num_steps=8", "name=custom"])
    assert cfg.algo.lr == 0.125  # the command line beats the file
    assert cfg.algo.num_steps == 8  # ... and the preset
    assert cfg.algo.update_epochs == 3
    assert cfg.name == "custom"


def test_preset_given_as_relative_yaml_path(config_tree: Path) -> None:
    exp = _write(config_tree / "experiment" / "rel.yaml", "defaults:\n  algo: ../algo/tiny_ppo.yaml\n")
    assert load_config(exp).algo.num_steps == 16


def test_cli_overrides_override_the_file() -> None:
    cfg = load_config(QUICKSTART, ["algo.lr=0.01", "env.num_envs=4", "policy.hidden_sizes=[32]"])
    assert cfg.algo.lr == 0.01
    assert cfg.env.num_envs == 4
    assert cfg.policy.hidden_sizes == [32]
    assert cfg.algo.gae_lambda == pytest.approx(0.8)  # untouched keys keep the file's value


def test_env_kwargs_accept_free_form_keys() -> None:
    cfg = load_config(QUICKSTART, ["env.kwargs.max_episode_steps=50", "env.kwargs.vectorization=async"])
    assert cfg.env.kwargs == {"max_episode_steps": 50, "vectorization": "async"}


def test_no_file_gives_defaults() -> None:
    cfg = load_config(None, ["algo.num_steps=8"])
    assert cfg.name == "run"
    assert cfg.algo.num_steps == 8
    assert cfg.env.name == TrainConfig().env.name


def test_unknown_key_in_file_names_file_and_dotted_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", "algo:\n  name: ppo\n  lrr: 0.1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "algo.lrr" in msg


def test_unknown_key_in_preset_names_the_preset(config_tree: Path) -> None:
    _write(config_tree / "algo" / "broken.yaml", "name: ppo\nlearning_rate: 0.1\n")
    exp = _write(config_tree / "experiment" / "uses_broken.yaml", "defaults:\n  algo: broken\n")
    with pytest.raises(ConfigError) as info:
        load_config(exp)
    msg = str(info.value)
    assert str(config_tree / "algo" / "broken.yaml") in msg
    assert "algo.learning_rate" in msg


def test_unknown_top_level_and_nested_keys_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "top.yaml", "total_steps: 10\n")
    with pytest.raises(ConfigError, match=r"top\.yaml: total_steps"):
        load_config(path)
    path = _write(tmp_path / "nested.yaml", "log:\n  video:\n    fps: 3\n")
    with pytest.raises(ConfigError, match=r"nested\.yaml: log\.video"):
        load_config(path)


def test_unknown_key_on_command_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, ["algo.bogus=1"])
    msg = str(info.value)
    assert msg.startswith("command line")
    assert "algo.bogus" in msg
    assert str(QUICKSTART) not in msg


@pytest.mark.parametrize(
    ("override", "key"),
    [("algo.lr=abc", "algo.lr"), ("env.num_envs=many", "env.num_envs"), ("log.video=maybe", "log.video")],
)
def test_wrong_type_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, [override])
    msg = str(info.value)
    assert key in msg
    assert "command line" in msg


def test_wrong_type_in_file_names_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "typo.yaml", "algo:\n  gamma: high\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "algo.gamma" in str(info.value)


def test_grpo_with_value_head_is_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(GRPO, ["policy.value_head=true"])
    msg = str(info.value)
    assert "policy.value_head" in msg and "GRPO" in msg
    assert "command line: policy.value_head" in msg  # blames the layer that set it


def test_grpo_value_head_set_in_file_blames_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "g.yaml", "algo:\n  name: grpo\nenv:\n  num_envs: 16\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)  # value_head defaults to true
    assert "defaults: policy.value_head" in str(info.value)
    path = _write(tmp_path / "g2.yaml", "algo:\n  name: grpo\npolicy:\n  value_head: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: policy.value_head" in str(info.value)


def test_grpo_num_envs_must_divide_into_groups() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(GRPO, ["env.num_envs=12"])
    msg = str(info.value)
    assert "env.num_envs" in msg and "group_size=8" in msg
    # the same value on a divisible group size is fine
    cfg = load_config(GRPO, ["env.num_envs=12", "algo.group_size=4"])
    assert cfg.env.num_envs == 12


def test_ppo_needs_value_head() -> None:
    with pytest.raises(ConfigError, match=r"policy\.value_head: PPO needs a value head"):
        load_config(QUICKSTART, ["policy.value_head=false"])


def test_ppo_batch_must_split_into_minibatches() -> None:
    # quickstart: 8 envs * 256 steps = 2048 rows, not divisible by 7
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, ["algo.num_minibatches=7"])
    msg = str(info.value)
    assert "algo.num_minibatches" in msg and "2048" in msg
    assert load_config(QUICKSTART, ["algo.num_minibatches=16"]).algo.num_minibatches == 16


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, ["algo.gamma=2.0", "env.num_envs=0", "algo.lr=-1"])
    msg = str(info.value)
    for key in ("algo.gamma", "env.num_envs", "algo.lr"):
        assert key in msg


@pytest.mark.parametrize(
    ("override", "suggestion"), [("algo.name=ppoo", "'ppo'"), ("policy.name=mpl", "'mlp'")]
)
def test_unknown_algo_or_policy_name_suggests_close_names(override: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, [override])
    msg = str(info.value)
    assert f"Did you mean {suggestion}" in msg
    assert override.split("=")[0] in msg
    assert "command line" in msg


def test_algo_name_selects_the_section_schema() -> None:
    cfg = load_config(None, ["algo.name=grpo", "policy.value_head=false", "algo.group_size=4"])
    assert type(cfg.algo).__name__ == "GRPOConfig"
    assert cfg.algo.group_size == 4
    # a PPO-only key is unknown once algo.name=grpo
    with pytest.raises(ConfigError, match=r"algo\.gae_lambda"):
        load_config(None, ["algo.name=grpo", "policy.value_head=false", "algo.gae_lambda=0.9"])


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    bad = _write(tmp_path / "broken.yaml", "algo: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = _write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(listed)


@pytest.mark.parametrize("item", ["foo", "=3", "--algo.lr=1"])
def test_malformed_override(item: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(QUICKSTART, [item])
    msg = str(info.value)
    assert "command line" in msg and "key=value" in msg and repr(item) in msg
    with pytest.raises(ConfigError):
        parse_overrides(["algo.lr=1", item])


def test_parse_overrides_parses_values_as_yaml() -> None:
    cfg = parse_overrides(["a.b=1e-3", "c=[1, 2]", "d=true", "e=text"])
    assert OmegaConf.to_container(cfg) == {"a": {"b": 1e-3}, "c": [1, 2], "d": True, "e": "text"}


def test_defaults_naming_missing_preset(config_tree: Path) -> None:
    exp = _write(config_tree / "experiment" / "x.yaml", "defaults:\n  algo: does_not_exist\n")
    with pytest.raises(ConfigError) as info:
        load_config(exp)
    msg = str(info.value)
    assert str(exp) in msg and "defaults.algo" in msg
    assert "does_not_exist.yaml" in msg and "not found" in msg


def test_defaults_naming_unknown_section(config_tree: Path) -> None:
    exp = _write(config_tree / "experiment" / "y.yaml", "defaults:\n  optimizer: adam\n")
    with pytest.raises(ConfigError) as info:
        load_config(exp)
    msg = str(info.value)
    assert "defaults.optimizer" in msg and "no such section" in msg and "'algo'" in msg


def test_defaults_must_be_a_mapping(config_tree: Path) -> None:
    exp = _write(config_tree / "experiment" / "z.yaml", "defaults:\n  - algo: tiny_ppo\n")
    with pytest.raises(ConfigError, match="'defaults' must map a section"):
        load_config(exp)


# ---- help text ---------------------------------------------------------------------------


def test_help_contains_field_docstrings() -> None:
    from embodied_rl.algorithms import ALGORITHMS

    ppo_cls = ALGORITHMS.get("ppo").config_class
    text = format_rows(describe(ppo_cls, "algo."))
    assert "algo.gae_lambda" in text
    assert "GAE lambda (1 = Monte-Carlo returns, 0 = one-step TD)." in text
    assert "[float, default 0.95]" in text
    assert "Discount factor." in text  # inherited from AlgoConfig

    base = format_rows(describe(TrainConfig))
    assert "env.num_envs" in base and "Number of parallel envs N in one batch." in base
    assert "total_env_steps" in base and "Training budget in env steps" in base


def test_describe_only_own_lists_what_a_subclass_adds() -> None:
    from embodied_rl.algorithms import ALGORITHMS

    grpo_cls = ALGORITHMS.get("grpo").config_class
    own = {row[0]: row for row in describe(grpo_cls, "algo.", only_own=True)}
    assert "algo.group_size" in own
    assert "algo.num_steps" in own  # redefined with another default (500)
    assert own["algo.num_steps"][2] == "500"
    assert "algo.gamma" not in own  # inherited unchanged


def test_every_config_field_is_documented() -> None:
    """Field docstrings are the --help; an undocumented field is a gap in the reference."""
    from embodied_rl.policies import POLICIES

    from embodied_rl.algorithms import ALGORITHMS

    classes = [TrainConfig] + [ALGORITHMS.get(n).config_class for n in ALGORITHMS.names()]
    classes += [POLICIES.get(n).config_class for n in POLICIES.names()]
    for cls in classes:
        rows = describe(cls)
        assert rows
        undocumented = [key for key, _, _, doc in rows if not doc.strip()]
        assert not undocumented, f"{cls.__name__}: no docstring for {undocumented}"
        missing = {f.name for f in dataclasses.fields(cls)} - set(field_docs(cls))
        assert not missing, f"{cls.__name__}: no docstring for {sorted(missing)}"


def test_defaults_override_swaps_a_preset_before_merging():
    path = Path(__file__).resolve().parents[2] / "configs" / "experiment" / "gridgoal_cnn_ppo.yaml"
    cfg = load_config(path, ["defaults.algo=grpo", "policy.value_head=false"])
    assert cfg.algo.name == "grpo" and type(cfg.algo).__name__ == "GRPOConfig"
    assert cfg.algo.lr == 1.0e-3  # the file's own keys still apply on top of the swapped preset
    with pytest.raises(ConfigError, match="defaults.algo"):
        load_config(path, ["defaults.algo=no_such_preset"])


def test_sft_expert_options_are_checked_against_every_source() -> None:
    gui = CONFIGS / "experiment" / "gui_miniwob_grpo.yaml"
    assert load_config(gui, ["sft.expert_kwargs.clicks=refs"]).sft.expert_kwargs == {"clicks": "refs"}
    # the main env (MiniWoB-v1) and the extra source (GuiSynthetic-v0) both lack the option
    with pytest.raises(ConfigError, match=r"sft\.expert_kwargs: the expert of MiniWoB-v1 has no option"):
        load_config(gui, ["sft.expert_kwargs.speed=2"])
    with pytest.raises(ConfigError, match=r"sft\.expert_kwargs: the expert of GuiSynthetic-v0"):
        load_config(gui, ["sft.expert_kwargs.speed=2"])
    # no SFT, or saved demos: the expert never runs, so its options are not checked
    assert load_config(gui, ["sft.expert_kwargs.speed=2", "sft.steps=0"]).sft.steps == 0
