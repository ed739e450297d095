"""The text-action policy contract (text_agent): every registered policy whose test env takes text.

The generic contract (test_policy_contract.py) covers tensor actions; here actions are strings,
log-probs are per generated token with a mask, and there is no value head by default (VLM
backbones and the value head: test_text_agent_vlm.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from embodied_rl.envs import env_spec, make
from embodied_rl.envs.experts import expert_for
from embodied_rl.policies import POLICIES, Policy, PolicyEnvMismatch
from embodied_rl.policies.text_agent.config import TextAgentConfig
from embodied_rl.policies.text_agent.policy import TextAgentPolicy

N = 4
ENV_KWARGS = {"schemas": "names"}
TEXT_POLICIES = [e.name for e in POLICIES if e.metadata.get("actions") == "text"]


def _setup(name: str = "text_agent", **overrides):
    env = make(POLICIES.entry(name).metadata["test_env"], num_envs=N, **ENV_KWARGS)
    spec = env_spec(env)
    obs, _ = env.reset(seed=0)
    env.close()
    cls = POLICIES.get(name)
    torch.manual_seed(0)
    config = cls.config_class(**{"max_new_tokens": 12, "max_prompt_tokens": 160, **overrides})
    return cls(config, spec), spec, obs


def test_text_policies_are_registered() -> None:
    assert "text_agent" in TEXT_POLICIES


@pytest.mark.parametrize("name", TEXT_POLICIES)
def test_act_and_evaluate_agree(name: str) -> None:
    policy, _, obs = _setup(name)
    torch.manual_seed(1)
    out = policy.act(obs)
    assert (
        isinstance(out.actions, list)
        and len(out.actions) == N
        and all(isinstance(a, str) for a in out.actions)
    )
    assert out.value is None
    mask = policy.logprob_mask(out.extras)
    assert out.log_prob.shape == (N, 12) and mask.shape == (N, 12) and mask.dtype == torch.bool
    assert (out.log_prob[~mask] == 0).all() and (out.log_prob[mask] < 0).all()
    assert mask[:, 0].all()  # every turn has at least one token
    log_prob, entropy, value = policy.evaluate(obs, out.actions, out.extras)
    assert value is None and log_prob.requires_grad
    torch.testing.assert_close(log_prob, out.log_prob, atol=1e-5, rtol=1e-5)
    assert (entropy[mask] > 0).all() and (entropy[~mask] == 0).all()
    # other generated tokens get other log-probs (evaluate re-scores, it does not echo)
    other = dict(out.extras, gen_ids=(out.extras["gen_ids"] + 1) % policy.backbone.vocab_size)
    assert not torch.allclose(policy.evaluate(obs, out.actions, other)[0], out.log_prob)


@pytest.mark.parametrize("name", TEXT_POLICIES)
def test_sequence_level_sums_the_tokens(name: str) -> None:
    policy, _, obs = _setup(name, logprob_level="sequence")
    torch.manual_seed(1)
    out = policy.act(obs)
    assert out.log_prob.shape == (N,) and policy.logprob_mask(out.extras) is None
    token_level, _, _ = _setup(name)
    torch.manual_seed(1)
    per_token = token_level.act(obs)
    torch.testing.assert_close(out.log_prob, per_token.log_prob.sum(-1))


@pytest.mark.parametrize("name", TEXT_POLICIES)
def test_deterministic_and_seeded_sampling_repeat(name: str) -> None:
    policy, _, obs = _setup(name)
    torch.manual_seed(1)
    a = policy.act(obs, deterministic=True)
    torch.manual_seed(2)
    b = policy.act(obs, deterministic=True)
    assert a.actions == b.actions and torch.equal(a.log_prob, b.log_prob)
    torch.manual_seed(3)
    s1 = policy.act(obs)
    torch.manual_seed(3)
    s2 = policy.act(obs)
    assert s1.actions == s2.actions


@pytest.mark.parametrize("name", TEXT_POLICIES)
def test_gradients_reach_every_parameter(name: str) -> None:
    policy, _, obs = _setup(name)
    out = policy.act(obs)
    log_prob, entropy, _ = policy.evaluate(obs, out.actions, out.extras)
    mask = policy.logprob_mask(out.extras)
    (-(log_prob[mask].mean() + 0.1 * entropy[mask].mean())).backward()
    missing = [n for n, p in policy.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("name", TEXT_POLICIES)
def test_save_pretrained_round_trip(name: str, tmp_path: Path) -> None:
    policy, spec, obs = _setup(name)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    out_dir = policy.save_pretrained(tmp_path / "saved")
    assert (out_dir / "backbone" / "tokenizer.json").is_file()
    loaded = Policy.from_pretrained(out_dir)
    assert type(loaded) is type(policy) and loaded.config == policy.config
    assert loaded.prompt_ids(obs) == policy.prompt_ids(obs)  # the saved tokenizer, not a rebuilt one
    a, b = policy.act(obs, deterministic=True), loaded.act(obs, deterministic=True)
    assert a.actions == b.actions and torch.equal(a.log_prob, b.log_prob)


def test_sft_learns_the_expert_turn_and_loss_covers_only_its_tokens() -> None:
    policy, _, obs = _setup(max_new_tokens=40)
    expert = expert_for("ToolArithmetic-v0", env_kwargs=ENV_KWARGS)
    actions = expert(obs, np.random.default_rng(0))
    assert all(a.startswith("<tool_call>") for a in actions)
    # the loss does not depend on the prompt padding side or on other rows' lengths
    single = policy.sft_loss({k: v[:1] for k, v in obs.items()}, actions[:1])
    prompts = policy.prompt_ids(obs)
    targets = policy.tokenizer(actions[:1], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompts[0] + targets[0]])
    logits = policy.model(input_ids=ids).logits[0, len(prompts[0]) - 1 : -1]
    manual = torch.nn.functional.cross_entropy(logits, torch.tensor(targets[0]))
    torch.testing.assert_close(single, manual, atol=1e-5, rtol=1e-5)

    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    first = policy.sft_loss(obs, actions).item()
    for _ in range(120):
        loss = policy.sft_loss(obs, actions)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * first
    greedy = policy.act(obs, deterministic=True)
    assert greedy.actions == actions  # it reproduces the expert turns, stop string included


def test_long_prompts_keep_their_last_tokens() -> None:
    policy, _, obs = _setup()
    full = policy.prompt_ids(obs)
    policy.config.max_prompt_tokens = 20
    cut = policy.prompt_ids(obs)
    assert all(len(c) == 20 and c == f[-20:] for c, f in zip(cut, full, strict=True))


def test_text_agent_needs_a_text_env() -> None:
    env = make("CartPole-v1", num_envs=1)
    spec = env_spec(env)
    env.close()
    with pytest.raises(PolicyEnvMismatch, match="text actions"):
        TextAgentPolicy(TextAgentConfig(), spec)


def test_config_check_names_the_bad_fields() -> None:
    bad = TextAgentConfig(logprob_level="chunk", temperature=0.0, tokenizer_corpus="web")
    bad.backbone.family = "gpt9"
    fields = {key for key, _ in bad.check(None)}
    assert fields == {
        "policy.logprob_level",
        "policy.temperature",
        "policy.backbone.family",
        "policy.tokenizer_corpus",
    }
    assert not list(TextAgentConfig(value_head=True).check(None))  # PPO's critic is allowed now
