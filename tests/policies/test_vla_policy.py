"""The vla policy beyond the contract: log-prob levels, LM action tokens, LoRA, action ranges, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.envs.core import index_obs
from embodied_rl.policies import Policy, PolicyEnvMismatch
from embodied_rl.policies.vla.config import VLAPolicyConfig
from embodied_rl.policies.vla.policy import VLAPolicy
from omegaconf import OmegaConf

N = 6


def _env(image_size: int = 0):
    env = make("PointReach-v0", num_envs=N, image_size=image_size)
    spec = env_spec(env)
    obs, _ = env.reset(seed=3)
    env.close()
    return spec, obs


def _policy(spec, **raw) -> VLAPolicy:
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(VLAPolicyConfig), raw))
    torch.manual_seed(0)
    return VLAPolicy(config, spec)


@pytest.mark.parametrize(("level", "shape"), [("chunk", (N,)), ("action", (N, 1)), ("dim", (N, 1, 2))])
@pytest.mark.parametrize("head", ["tokens", "flow"])
def test_logprob_levels(level: str, shape: tuple, head: str) -> None:
    spec, obs = _env()
    policy = _policy(spec, head=head, logprob_level=level)
    out = policy.act(obs)
    assert tuple(out.log_prob.shape) == shape
    log_prob, entropy, _ = policy.evaluate(obs, out.actions, out.extras)
    assert log_prob.shape == out.log_prob.shape == entropy.shape
    torch.testing.assert_close(log_prob, out.log_prob, atol=1e-5, rtol=0)
    chunk = _policy(spec, head=head, logprob_level="chunk")
    chunk.load_state_dict(policy.state_dict())
    lp_chunk, _, _ = chunk.evaluate(obs, out.actions, out.extras)
    torch.testing.assert_close(lp_chunk, log_prob.reshape(N, -1).sum(-1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("decoding", ["parallel", "sequential"])
@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2"])
def test_lm_action_tokens_ratio_is_one_under_rebatching(family: str, decoding: str) -> None:
    """Rows have different prompt lengths (red/blue); the log-prob of a row must not depend on its batch."""
    spec, obs = _env(image_size=56)
    policy = _policy(
        spec,
        head="tokens",
        backbone={"family": family, "state_in_prompt": True},
        tokens={"decoding": decoding},
    )
    out = policy.act(obs)
    assert len({len(t) for t in obs["instruction"]}) > 1  # padding really happens
    assert (out.extras["action_bins"] >= 0).all() and (out.extras["action_bins"] < 256).all()
    lp, _, value = policy.evaluate(obs, out.actions, out.extras)
    assert torch.equal(lp, out.log_prob) or torch.allclose(lp, out.log_prob, atol=1e-5)
    torch.testing.assert_close(value, out.value, atol=1e-5, rtol=0)
    perm = torch.tensor([4, 1, 5])
    sub_lp, _, _ = policy.evaluate(
        index_obs(obs, perm), out.actions[perm], {k: v[perm] for k, v in out.extras.items()}
    )
    torch.testing.assert_close(sub_lp, out.log_prob[perm], atol=1e-5, rtol=0)
    # the decoded actions are the bins' centres in the env's units
    bins = out.extras["action_bins"].reshape(N, -1).float()
    torch.testing.assert_close(out.actions, (bins + 0.5) / 256 * 2 - 1, atol=1e-5, rtol=0)


def test_lora_trains_adapters_and_heads_only_and_round_trips(tmp_path: Path) -> None:
    spec, obs = _env(image_size=56)
    policy = _policy(spec, head="flow", backbone={"family": "qwen2_5_vl", "lora_rank": 4})
    trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
    backbone_trainable = [n for n in trainable if n.startswith("encoder.backbone")]
    assert backbone_trainable and all("lora_" in n for n in backbone_trainable)
    assert any(n.startswith("head.") for n in trainable) and any(
        n.startswith("value_head") for n in trainable
    )
    counts = policy.parameter_counts()
    assert counts["trainable"] < counts["total"] / 2
    out = policy.act(obs)
    lp, _, v = policy.evaluate(obs, out.actions, out.extras)
    (lp.mean() + v.mean()).backward()
    assert all(p.grad is not None for n, p in policy.named_parameters() if "lora_B" in n)
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "lora_B" in n:
                p.add_(0.05)  # LoRA B starts at zero: move it so the adapters matter
    saved = policy.save_pretrained(tmp_path / "p")
    loaded = Policy.from_pretrained(saved)
    assert loaded.config == policy.config
    a, b = policy.act(obs, deterministic=True), loaded.act(obs, deterministic=True)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.value, b.value)


def test_dataset_action_range_sets_bins_from_demos() -> None:
    spec, obs = _env()
    policy = _policy(spec, head="tokens", tokens={"action_range": "dataset"})
    demos = torch.stack([torch.linspace(-0.5, 0.5, 101), torch.linspace(0.0, 0.2, 101)], -1)
    policy.fit_to_demos(demos)
    torch.testing.assert_close(policy.action_low, torch.tensor([-0.49, 0.002]), atol=1e-4, rtol=0)
    torch.testing.assert_close(policy.action_high, torch.tensor([0.49, 0.198]), atol=1e-4, rtol=0)
    out = policy.act(obs)
    assert (out.actions[:, 0].abs() <= 0.49 + 1e-5).all()
    spec_policy = _policy(spec, head="tokens")  # action_range=spec keeps the env's bounds
    spec_policy.fit_to_demos(demos)
    assert torch.equal(spec_policy.action_low, torch.tensor([-1.0, -1.0]))


def test_sft_losses_fall_for_each_head() -> None:
    spec, obs = _env()
    target = torch.stack(
        [obs["state"][:, 2] - obs["state"][:, 0], obs["state"][:, 3] - obs["state"][:, 1]], -1
    )
    target = target.clamp(-1, 1)
    for raw in (
        {"head": "tokens"},
        {"head": "tokens", "tokens": {"decoding": "sequential"}},
        {"head": "flow"},
    ):
        policy = _policy(spec, **raw)
        opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
        losses = []
        for _ in range(150):
            loss = policy.sft_loss(obs, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert sum(losses[-20:]) < 0.6 * sum(losses[:20]), raw  # the flow loss is noisy (random t, eps)


def test_bad_inputs_fail_clearly() -> None:
    spec, _ = _env()
    with pytest.raises(FileNotFoundError, match="never downloads"):
        _policy(spec, backbone={"family": "qwen2_5_vl", "path": "Qwen/Qwen2.5-VL-3B-Instruct"})
    with pytest.raises(PolicyEnvMismatch, match="chunk"):
        _policy(spec, chunk=3)
    cart = env_spec(make("CartPole-v1", num_envs=1))
    with pytest.raises(PolicyEnvMismatch, match="Box"):
        _policy(cart)
    from embodied_rl.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="policy.flow.sampler"):
        load_config("configs/experiment/point_reach_flow_sde.yaml", ["policy.flow.sampler=bogus"])
