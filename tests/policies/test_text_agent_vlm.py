"""The text agent with a VLM backbone (reads the observation's images) and with a value head (PPO)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.policies import Policy, PolicyEnvMismatch
from embodied_rl.policies.text_agent.config import TextAgentConfig
from embodied_rl.policies.text_agent.policy import TextAgentPolicy
from embodied_rl.policies.vla.config import BackboneConfig

N = 3
ENV = "ToolZoomCount-v0"  # text + a 'view' image


def _setup(family: str = "qwen2_vl", **overrides):
    env = make(ENV, num_envs=N, schemas="names", view_size=64)
    spec = env_spec(env)
    obs, _ = env.reset(seed=0)
    env.close()
    torch.manual_seed(0)
    config = TextAgentConfig(
        backbone=BackboneConfig(family=family, preset="tiny"),
        **{"max_new_tokens": 8, "max_prompt_tokens": 640, **overrides},
    )
    return TextAgentPolicy(config, spec), spec, obs


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "idefics3"])
def test_vlm_prompts_carry_image_tokens_and_act_matches_evaluate(family: str) -> None:
    policy, _, obs = _setup(family)
    assert policy.vision
    prompts, vision = policy.prompt_batch(obs)
    image_token = policy.backbone.processor.image_token_id
    assert all(image_token in row for row in prompts) and "pixel_values" in vision
    torch.manual_seed(1)
    out = policy.act(obs)
    mask = policy.logprob_mask(out.extras)
    log_prob, entropy, value = policy.evaluate(obs, out.actions, out.extras)
    assert value is None and log_prob.requires_grad
    torch.testing.assert_close(log_prob, out.log_prob, atol=1e-5, rtol=1e-5)
    assert (out.log_prob[mask] < 0).all() and (entropy[~mask] == 0).all()


def test_vlm_log_probs_depend_on_the_image() -> None:
    policy, _, obs = _setup()
    out = policy.act(obs, deterministic=True)
    blank = {**obs, "images": {k: torch.zeros_like(v) for k, v in obs["images"].items()}}
    changed, _, _ = policy.evaluate(blank, out.actions, out.extras)
    assert not torch.allclose(changed, out.log_prob)


def test_vlm_sft_loss_falls_and_gradients_reach_the_vision_tower() -> None:
    policy, _, obs = _setup()
    targets = ["<answer>3</answer>"] * N
    loss = policy.sft_loss(obs, targets)
    loss.backward()
    vision = [n for n, p in policy.named_parameters() if "visual" in n]
    assert vision and all(policy.get_parameter(n).grad is not None for n in vision)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(20):
        opt.zero_grad()
        step = policy.sft_loss(obs, targets)
        step.backward()
        opt.step()
    assert step.item() < 0.5 * loss.item()


def test_paligemma_is_refused_with_the_reason() -> None:
    with pytest.raises(PolicyEnvMismatch, match="paligemma"):
        _setup("paligemma")


def test_vlm_prompt_longer_than_the_limit_is_an_error() -> None:
    policy, _, obs = _setup(max_prompt_tokens=16)
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        policy.act(obs)


def test_value_head_reads_the_prompt_and_gets_gradients() -> None:
    policy, _, obs = _setup(value_head=True)
    out = policy.act(obs)
    assert out.value is not None and out.value.shape == (N,)
    torch.testing.assert_close(policy.value(obs), out.value)
    _, _, value = policy.evaluate(obs, out.actions, out.extras)
    (value - 1.0).pow(2).mean().backward()
    assert policy.value_head.weight.grad.abs().sum() > 0


def test_image_keys_must_exist_and_round_trip(tmp_path: Path) -> None:
    with pytest.raises(PolicyEnvMismatch, match="image_keys"):
        _setup(image_keys=["wrist"])
    policy, _, obs = _setup(image_keys=["view"], value_head=True)
    loaded = Policy.from_pretrained(policy.save_pretrained(tmp_path / "p"))
    a, b = policy.act(obs, deterministic=True), loaded.act(obs, deterministic=True)
    assert a.actions == b.actions and torch.equal(a.log_prob, b.log_prob) and torch.equal(a.value, b.value)


def test_image_placeholders_are_never_generated() -> None:
    policy, _, obs = _setup(max_new_tokens=4)
    image_token = policy.backbone.processor.image_token_id
    with torch.no_grad():  # make the placeholder the model's favourite token
        policy.model.lm_head.weight[image_token] = 50 * policy.model.lm_head.weight[image_token].sign()
        policy.model.lm_head.weight[image_token] += 50
    out = policy.act(obs)
    assert not (out.extras["gen_ids"] == image_token).any()
    log_prob, entropy, _ = policy.evaluate(obs, out.actions, out.extras)
    torch.testing.assert_close(log_prob, out.log_prob, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(entropy).all()
