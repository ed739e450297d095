"""Tests for embodied_rl.algorithms.losses against hand-worked numbers and torch.distributions."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from embodied_rl.algorithms.losses import (
    PPOStats,
    categorical_entropy,
    categorical_log_prob,
    entropy_loss,
    gaussian_entropy,
    gaussian_log_prob,
    kl_estimate,
    masked_mean,
    ppo_clip_loss,
    value_loss,
)


def test_masked_mean() -> None:
    x = torch.tensor([1.0, 2.0, 3.0, float("nan")])
    # (1 + 3) / 2 = 2; the NaN sits outside the mask
    assert masked_mean(x, torch.tensor([True, False, True, False])).item() == 2.0
    assert masked_mean(x[:3]).item() == 2.0
    empty = masked_mean(x, torch.zeros(4, dtype=torch.bool))
    assert empty.item() == 0.0 and not torch.isnan(empty)
    # gradient flows only to masked entries and is 1/count there
    y = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    masked_mean(y, torch.tensor([True, True, False])).backward()
    assert y.grad is not None
    torch.testing.assert_close(y.grad, torch.tensor([0.5, 0.5, 0.0]))


# ratio, advantage -> per-entry objective min(r*A, clip(r)*A), clip_low=0.2, clip_high=0.28
#   r=1.3, A=+1: min(1.3, 1.28)   =  1.28   (clipped from above)
#   r=0.7, A=-1: min(-0.7, -0.8)  = -0.8    (clipped from below)
#   r=1.3, A=-1: min(-1.3, -1.28) = -1.3    (pessimistic branch: not clipped)
#   r=0.7, A=+1: min(0.7, 0.8)    =  0.7    (not clipped)
#   r=1.0, A=+2: 2.0
# sum = 1.28 - 0.8 - 1.3 + 0.7 + 2.0 = 1.88 ; loss = -1.88/5 = -0.376
_RATIOS = [1.3, 0.7, 1.3, 0.7, 1.0]
_ADVS = [1.0, -1.0, -1.0, 1.0, 2.0]


def _log_probs(ratios: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    log_prob = torch.tensor(ratios, dtype=torch.float64).log().requires_grad_(True)
    return log_prob, torch.zeros(len(ratios), dtype=torch.float64)


def test_ppo_clip_loss_asymmetric_hand_worked() -> None:
    log_prob, old = _log_probs(_RATIOS)
    adv = torch.tensor(_ADVS, dtype=torch.float64)
    loss, stats = ppo_clip_loss(log_prob, old, adv, clip_low=0.2, clip_high=0.28)
    assert loss.item() == pytest.approx(-0.376, abs=1e-12)
    # ratio 1.3 > 1.28 twice, ratio 0.7 < 0.8 twice, ratio 1.0 inside -> 4/5
    assert stats.clip_fraction.item() == pytest.approx(0.8)
    # k3 old->new: (r-1) - ln r
    #   r=1.3: 0.3 - 0.2623642645 = 0.0376357355
    #   r=0.7: -0.3 + 0.3566749439 = 0.0566749439
    #   mean = (2*0.0376357355 + 2*0.0566749439 + 0) / 5 = 0.0377242718
    assert stats.approx_kl.item() == pytest.approx(0.0377242718, abs=1e-9)
    assert not stats.clip_fraction.requires_grad and not stats.approx_kl.requires_grad
    # gradient: d/dlogp of -(r*A)/5 = -r*A/5 where unclipped, 0 where clipped
    loss.backward()
    assert log_prob.grad is not None
    expected_grad = torch.tensor([0.0, 0.0, 1.3 / 5, -0.7 / 5, -2.0 / 5], dtype=torch.float64)
    torch.testing.assert_close(log_prob.grad, expected_grad)


def test_ppo_clip_loss_symmetric_default() -> None:
    log_prob, old = _log_probs(_RATIOS)
    adv = torch.tensor(_ADVS, dtype=torch.float64)
    loss, stats = ppo_clip_loss(log_prob, old, adv)  # clip_high = clip_low = 0.2
    # the first entry is now clipped at 1.2: sum = 1.2 - 0.8 - 1.3 + 0.7 + 2.0 = 1.8
    assert loss.item() == pytest.approx(-1.8 / 5, abs=1e-12)
    assert stats.clip_fraction.item() == pytest.approx(0.8)
    # with clip_high=0.35, ratio 1.3 is inside the range: 2 of 5 entries outside
    _, wide = ppo_clip_loss(log_prob, old, adv, clip_low=0.2, clip_high=0.35)
    assert wide.clip_fraction.item() == pytest.approx(0.4)


def test_ppo_clip_loss_mask_and_on_policy() -> None:
    log_prob, old = _log_probs(_RATIOS)
    adv = torch.tensor(_ADVS, dtype=torch.float64)
    mask = torch.tensor([True, True, False, False, False])
    loss, stats = ppo_clip_loss(log_prob, old, adv, 0.2, 0.28, mask)
    # (1.28 - 0.8) / 2 = 0.24
    assert loss.item() == pytest.approx(-0.24, abs=1e-12)
    assert stats.clip_fraction.item() == pytest.approx(1.0)
    # on-policy (ratio 1): loss = -mean(A), nothing clipped, KL 0
    lp = torch.randn(10)
    a = torch.randn(10)
    loss0, stats0 = ppo_clip_loss(lp, lp.clone(), a)
    torch.testing.assert_close(loss0, -a.mean())
    assert stats0.clip_fraction.item() == 0.0 and stats0.approx_kl.item() == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats0.approx_kl = torch.tensor(1.0)  # type: ignore[misc]
    assert isinstance(stats0, PPOStats)


def test_value_loss_plain_and_clipped_hand_worked() -> None:
    values = torch.tensor([1.0, 3.0])
    returns = torch.tensor([2.0, 2.0])
    old_values = torch.tensor([0.0, 2.5])
    # plain: ((1-2)^2 + (3-2)^2) / 2 = 1  (no 0.5 factor)
    assert value_loss(values, returns).item() == pytest.approx(1.0)
    # clip 0.2:
    #   entry 0: unclipped 1; v_clip = 0 + clamp(1, -.2, .2) = 0.2 -> (0.2-2)^2 = 3.24; max 3.24
    #   entry 1: unclipped 1; v_clip = 2.5 + 0.2 = 2.7 -> (2.7-2)^2 = 0.49; max 1
    #   mean = (3.24 + 1) / 2 = 2.12
    loss = value_loss(values, returns, old_values=old_values, clip=0.2)
    assert loss.item() == pytest.approx(2.12)
    # masked to entry 0 only
    mask = torch.tensor([True, False])
    assert value_loss(values, returns, old_values, 0.2, mask).item() == pytest.approx(3.24)
    # a clipped loss is never below the unclipped one
    gen = torch.Generator().manual_seed(0)
    v, r, o = (torch.randn(50, generator=gen) for _ in range(3))
    assert value_loss(v, r, o, 0.1).item() >= value_loss(v, r).item()
    with pytest.raises(ValueError, match="old_values"):
        value_loss(values, returns, clip=0.2)


def test_entropy_loss() -> None:
    entropy = torch.tensor([1.0, 2.0, 6.0])
    assert entropy_loss(entropy).item() == pytest.approx(-3.0)
    assert entropy_loss(entropy, torch.tensor([True, True, False])).item() == pytest.approx(-1.5)


def test_kl_estimators_hand_worked() -> None:
    # log_prob = 0, ref_log_prob = ln 2 -> log_r = ln 2 = 0.6931471806
    #   k1 = -0.6931471806
    #   k2 = 0.5 * 0.4804530139 = 0.2402265070
    #   k3 = 2 - 1 - 0.6931471806 = 0.3068528194
    log_prob = torch.tensor([0.0], dtype=torch.float64)
    ref = torch.tensor([math.log(2.0)], dtype=torch.float64)
    assert kl_estimate(log_prob, ref, "k1").item() == pytest.approx(-0.6931471806)
    assert kl_estimate(log_prob, ref, "k2").item() == pytest.approx(0.2402265070)
    assert kl_estimate(log_prob, ref, "k3").item() == pytest.approx(0.3068528194)
    assert kl_estimate(log_prob, ref).item() == pytest.approx(0.3068528194)  # default k3
    with pytest.raises(ValueError, match="k1"):
        kl_estimate(log_prob, ref, "k4")  # type: ignore[arg-type]


def test_kl_k3_nonnegative_and_zero_on_policy() -> None:
    gen = torch.Generator().manual_seed(0)
    lp, ref = torch.randn(1000, generator=gen) * 3, torch.randn(1000, generator=gen) * 3
    assert torch.all(kl_estimate(lp, ref, "k3") >= 0)
    assert torch.all(kl_estimate(lp, ref, "k2") >= 0)
    assert torch.all(kl_estimate(lp, lp, "k3") == 0)


def test_kl_estimators_approximate_gaussian_kl() -> None:
    # pi = N(0, 1) (samples), pi_ref = N(0.5, 1.2):
    # KL(pi||ref) = ln(1.2/1) + (1 + 0.5^2) / (2 * 1.2^2) - 0.5
    #             = 0.1823215568 + 1.25/2.88 - 0.5 = 0.1823215568 + 0.4340277778 - 0.5
    #             = 0.1163493346
    true_kl = math.log(1.2) + 1.25 / 2.88 - 0.5
    assert true_kl == pytest.approx(0.1163493346)
    torch.manual_seed(0)
    x = torch.randn(200_000, dtype=torch.float64)
    log_prob = Normal(0.0, 1.0).log_prob(x)
    ref_log_prob = Normal(0.5, 1.2).log_prob(x)
    assert kl_estimate(log_prob, ref_log_prob, "k3").mean().item() == pytest.approx(true_kl, abs=5e-3)
    assert kl_estimate(log_prob, ref_log_prob, "k1").mean().item() == pytest.approx(true_kl, abs=5e-3)


def test_gaussian_log_prob_and_entropy_match_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    B, A = 7, 3
    mean = torch.randn(B, A, generator=gen, dtype=torch.float64)
    log_std = torch.randn(A, generator=gen, dtype=torch.float64) * 0.5
    actions = torch.randn(B, A, generator=gen, dtype=torch.float64)
    dist = Normal(mean, log_std.exp())
    torch.testing.assert_close(gaussian_log_prob(mean, log_std, actions), dist.log_prob(actions).sum(-1))
    ent = gaussian_entropy(log_std, batch_shape=(B,))
    assert ent.shape == (B,)
    torch.testing.assert_close(ent, dist.entropy().sum(-1))
    # state-dependent log_std [B, A], no batch_shape
    log_std_b = torch.randn(B, A, generator=gen, dtype=torch.float64)
    dist_b = Normal(mean, log_std_b.exp())
    torch.testing.assert_close(gaussian_entropy(log_std_b), dist_b.entropy().sum(-1))
    torch.testing.assert_close(gaussian_log_prob(mean, log_std_b, actions), dist_b.log_prob(actions).sum(-1))
    # hand value: standard normal in 1-D at a = 0: -0.5*ln(2*pi) = -0.9189385332;
    # entropy 0.5 + 0.9189385332 = 1.4189385332
    zero = torch.zeros(1)
    assert gaussian_log_prob(zero, zero, zero).item() == pytest.approx(-0.9189385332)
    assert gaussian_entropy(zero).item() == pytest.approx(1.4189385332)


def test_categorical_log_prob_and_entropy_match_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=gen, dtype=torch.float64) * 2
    actions = torch.randint(0, 5, (6,), generator=gen)
    dist = Categorical(logits=logits)
    torch.testing.assert_close(categorical_log_prob(logits, actions), dist.log_prob(actions))
    torch.testing.assert_close(categorical_entropy(logits), dist.entropy())
    # hand value: uniform over 4 classes -> log p = -ln 4 = -1.3862943611, H = ln 4
    uniform = torch.zeros(1, 4)
    assert categorical_log_prob(uniform, torch.tensor([2])).item() == pytest.approx(-1.3862943611)
    assert categorical_entropy(uniform).item() == pytest.approx(1.3862943611)
    # masked (-inf) logits give no NaN and match the two-class entropy ln 2
    masked = torch.tensor([[0.0, float("-inf"), 0.0]])
    assert categorical_entropy(masked).item() == pytest.approx(math.log(2.0))
    torch.testing.assert_close(categorical_entropy(masked), Categorical(logits=masked).entropy())
