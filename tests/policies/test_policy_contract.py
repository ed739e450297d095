"""The policy contract (DESIGN.md): every registered policy and every policy preset on its env.

Policy presets are ``configs/policy/*.yaml``; each one names the env(s) it fits in a
``# fits: ENV [key=value ...]`` header line (env kwargs after the name).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.policies import POLICIES, ActionOutput, Policy, PolicyEnvMismatch, build_policy
from omegaconf import OmegaConf

N = 5
PRESET_DIR = Path(__file__).resolve().parents[2] / "configs" / "policy"


def _preset_fits(path: Path) -> list[tuple[str, dict]]:
    fits = []
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*fits:\s*(\S+)(.*)", line)
        if m:
            kwargs = dict(kv.split("=") for kv in m.group(2).split())
            fits.append((m.group(1), {k: int(v) if v.isdigit() else v for k, v in kwargs.items()}))
    return fits


# (case id, policy name, preset file or None, env name, env kwargs): every registered policy on the
# env its metadata names, the Gaussian head of mlp, and every preset on the envs it claims to fit.
# Text-action policies (text_agent) have their own contract test: tests/policies/test_text_agent.py.
TENSOR_POLICIES = [e.name for e in POLICIES if e.metadata.get("actions") != "text"]
CASES = [(name, name, None, POLICIES.entry(name).metadata["test_env"], {}) for name in TENSOR_POLICIES]
CASES.append(("mlp-Pendulum", "mlp", None, "Pendulum-v1", {}))
for _path in sorted(PRESET_DIR.glob("*.yaml")):
    if OmegaConf.load(_path)["name"] not in TENSOR_POLICIES:
        continue
    for _env, _kw in _preset_fits(_path):
        CASES.append((f"preset:{_path.stem}-{_env}", OmegaConf.load(_path)["name"], _path, _env, _kw))
IDS = [c[0] for c in CASES]
CASE_ARGS = [c[1:] for c in CASES]


def test_every_preset_declares_the_envs_it_fits() -> None:
    for path in PRESET_DIR.glob("*.yaml"):
        assert _preset_fits(path), f"{path.name} has no '# fits: ENV' line"


def _setup(name: str, preset: Path | None, env_name: str, env_kwargs: dict, **overrides):
    env = make(env_name, num_envs=N, **env_kwargs)
    spec = env_spec(env)
    obs, _ = env.reset(seed=0)
    env.close()
    cls = POLICIES.get(name)
    layers = [OmegaConf.structured(cls.config_class)]
    if preset is not None:
        layers.append(OmegaConf.load(preset))
    config = OmegaConf.to_object(OmegaConf.merge(*layers, overrides))
    torch.manual_seed(0)
    policy = cls(config, spec)
    return policy, spec, obs


def _perturb(out: ActionOutput, spec) -> tuple:
    """Other actions (and extras) than the sampled ones."""
    other = (out.actions + 1) % spec.action_space.n if spec.action_kind == "discrete" else out.actions + 1.0
    extras = {}
    for k, v in out.extras.items():
        if v.is_floating_point():
            extras[k] = v + 0.5
        elif k == "action_bins":
            extras[k] = torch.where(v > 0, v - 1, v + 1)
        else:
            extras[k] = v
    return other, extras


def _action_dims(spec) -> tuple[int, ...]:
    return (N,) if spec.action_kind == "discrete" else (N, int(spec.action_space.shape[0]))


def test_every_policy_names_a_registered_test_env() -> None:
    from embodied_rl.envs import ENVS

    assert {"mlp", "cnn"} <= set(POLICIES.names())
    for entry in POLICIES:
        assert entry.metadata["test_env"] in ENVS
        assert issubclass(POLICIES.get(entry.name), Policy)
        assert POLICIES.get(entry.name).config_class().name == entry.name


@pytest.mark.parametrize(("name", "preset", "env_name", "env_kwargs"), CASE_ARGS, ids=IDS)
def test_act_shapes_and_evaluate_reproduces_log_prob(
    name: str, preset, env_name: str, env_kwargs: dict
) -> None:
    policy, spec, obs = _setup(name, preset, env_name, env_kwargs)
    torch.manual_seed(1)
    out = policy.act(obs)
    assert isinstance(out, ActionOutput)
    assert tuple(out.actions.shape) == _action_dims(spec)
    if spec.action_kind == "discrete":
        assert out.actions.dtype == torch.long
        assert ((out.actions >= 0) & (out.actions < spec.action_space.n)).all()
    else:
        assert out.actions.is_floating_point()
    assert out.log_prob.shape == (N,) and torch.isfinite(out.log_prob).all()
    assert (out.log_prob <= 1e-6).all() or spec.action_kind == "continuous"
    assert out.value is not None and out.value.shape == (N,)
    assert not out.log_prob.requires_grad  # act runs without grad

    log_prob, entropy, value = policy.evaluate(obs, out.actions, out.extras)
    torch.testing.assert_close(log_prob, out.log_prob, atol=1e-5, rtol=1e-5)
    assert entropy.shape == (N,) and torch.isfinite(entropy).all()
    assert value is not None and value.shape == (N,)
    torch.testing.assert_close(value, out.value, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(policy.value(obs), out.value, atol=1e-6, rtol=1e-6)

    # evaluating other actions gives other log-probs (evaluate is not just echoing act)
    other, other_extras = _perturb(out, spec)
    other_lp, _, _ = policy.evaluate(obs, other, other_extras)
    assert not torch.allclose(other_lp, out.log_prob)


@pytest.mark.parametrize(("name", "preset", "env_name", "env_kwargs"), CASE_ARGS, ids=IDS)
def test_deterministic_act_is_repeatable(name: str, preset, env_name: str, env_kwargs: dict) -> None:
    policy, spec, obs = _setup(name, preset, env_name, env_kwargs)
    torch.manual_seed(1)
    a = policy.act(obs, deterministic=True)
    torch.manual_seed(2)
    b = policy.act(obs, deterministic=True)
    assert torch.equal(a.actions, b.actions)
    assert torch.equal(a.log_prob, b.log_prob)
    # sampling with the same torch seed is repeatable too
    torch.manual_seed(3)
    s1 = policy.act(obs)
    torch.manual_seed(3)
    s2 = policy.act(obs)
    assert torch.equal(s1.actions, s2.actions)


@pytest.mark.parametrize(("name", "preset", "env_name", "env_kwargs"), CASE_ARGS, ids=IDS)
def test_gradients_reach_every_parameter(name: str, preset, env_name: str, env_kwargs: dict) -> None:
    policy, _, obs = _setup(name, preset, env_name, env_kwargs)
    out = policy.act(obs)
    log_prob, entropy, value = policy.evaluate(obs, out.actions, out.extras)
    # (a Flow-SDE entropy is a constant of the noise schedule, so it may carry no grad)
    assert log_prob.requires_grad and value.requires_grad and torch.isfinite(entropy).all()
    loss = -(log_prob.mean() + 0.1 * entropy.mean()) + value.pow(2).mean()
    loss.backward()
    params = dict(policy.named_parameters())
    if getattr(policy, "is_language", False) and policy.config.head == "flow":
        params = {n: p for n, p in params.items() if "lm_head" not in n}  # a flow head reads hidden states
    assert params
    missing = [n for n, p in params.items() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    zero = [n for n, p in params.items() if not p.grad.abs().sum() > 0]
    assert not zero, f"all-zero gradient for {zero}"


@pytest.mark.parametrize(("name", "preset", "env_name", "env_kwargs"), CASE_ARGS, ids=IDS)
def test_save_pretrained_round_trip(
    name: str, preset, env_name: str, env_kwargs: dict, tmp_path: Path
) -> None:
    policy, spec, obs = _setup(name, preset, env_name, env_kwargs)
    with torch.no_grad():  # move away from the init so a fresh build would differ
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    out_dir = policy.save_pretrained(tmp_path / "saved")
    assert (out_dir / "model.safetensors").is_file() and (out_dir / "policy.json").is_file()

    loaded = Policy.from_pretrained(out_dir)
    assert type(loaded) is type(policy)
    assert loaded.config == policy.config
    assert loaded.spec.name == spec.name and loaded.spec.action_space == spec.action_space
    ref_state, new_state = policy.state_dict(), loaded.state_dict()
    assert ref_state.keys() == new_state.keys()
    for k in ref_state:
        assert torch.equal(ref_state[k], new_state[k]), k

    a, b = policy.act(obs, deterministic=True), loaded.act(obs, deterministic=True)
    assert torch.equal(a.actions, b.actions)
    assert torch.equal(a.log_prob, b.log_prob)
    assert torch.equal(a.value, b.value)
    torch.manual_seed(5)
    s1 = policy.act(obs)
    torch.manual_seed(5)
    s2 = loaded.act(obs)
    assert torch.equal(s1.actions, s2.actions) and torch.equal(s1.log_prob, s2.log_prob)
    lp1, ent1, v1 = policy.evaluate(obs, s1.actions, s1.extras)
    lp2, ent2, v2 = loaded.evaluate(obs, s1.actions, s1.extras)
    assert torch.equal(lp1, lp2) and torch.equal(ent1, ent2) and torch.equal(v1, v2)
    # the concrete class loads it too; another policy class refuses
    assert type(POLICIES.get(name).from_pretrained(out_dir)) is type(policy)
    other = next(n for n in POLICIES.names() if n != name)
    with pytest.raises(TypeError):
        POLICIES.get(other).from_pretrained(out_dir)


def test_from_pretrained_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never downloads"):
        Policy.from_pretrained(tmp_path / "does-not-exist")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        Policy.from_pretrained(tmp_path)  # exists but empty
    with pytest.raises(FileNotFoundError, match="never downloads"):
        Policy.from_pretrained("some-org/some-model")  # a hub-style name is not looked up


def test_from_pretrained_needs_both_files(tmp_path: Path) -> None:
    policy, _, _ = _setup("mlp", None, "CartPole-v1", {})
    out = policy.save_pretrained(tmp_path / "p")
    (out / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        Policy.from_pretrained(out)


@pytest.mark.parametrize(("name", "preset", "env_name", "env_kwargs"), CASE_ARGS, ids=IDS)
def test_without_value_head(name: str, preset, env_name: str, env_kwargs: dict) -> None:
    policy, _, obs = _setup(name, preset, env_name, env_kwargs, value_head=False)
    assert not policy.has_value_head
    out = policy.act(obs)
    assert out.value is None
    log_prob, entropy, value = policy.evaluate(obs, out.actions, out.extras)
    assert value is None
    assert log_prob.shape == (N,) and entropy.shape == (N,)
    assert policy.value(obs) is None
    with_head, _, _ = _setup(name, preset, env_name, env_kwargs)
    assert sum(p.numel() for p in policy.parameters()) < sum(p.numel() for p in with_head.parameters())


def test_build_policy_uses_config_name() -> None:
    env = make("CartPole-v1", num_envs=1)
    cfg = POLICIES.get("mlp").config_class(hidden_sizes=[8])
    policy = build_policy(cfg, env_spec(env))
    env.close()
    assert type(policy) is POLICIES.get("mlp")
    assert policy.config.hidden_sizes == [8]


def test_mlp_on_pixels_is_a_mismatch() -> None:
    env = make("GridGoalPixels-v0", num_envs=1)
    spec = env_spec(env)
    env.close()
    cls = POLICIES.get("mlp")
    with pytest.raises(PolicyEnvMismatch) as info:
        cls(cls.config_class(), spec)
    msg = str(info.value)
    assert "GridGoalPixels-v0" in msg and "state" in msg and "policy.name=cnn" in msg


def test_cnn_on_state_is_a_mismatch() -> None:
    env = make("CartPole-v1", num_envs=1)
    spec = env_spec(env)
    env.close()
    cls = POLICIES.get("cnn")
    with pytest.raises(PolicyEnvMismatch) as info:
        cls(cls.config_class(), spec)
    msg = str(info.value)
    assert "CartPole-v1" in msg and "images" in msg and "policy.name=mlp" in msg


def test_multi_dim_box_actions_are_a_mismatch() -> None:
    from gymnasium import spaces

    env = make("Pendulum-v1", num_envs=1)
    spec = dataclasses.replace(env_spec(env), action_space=spaces.Box(-1, 1, (2, 2)))
    env.close()
    cls = POLICIES.get("mlp")
    with pytest.raises(PolicyEnvMismatch, match="1-D Box"):
        cls(cls.config_class(), spec)
