"""Tests for embodied_rl.algorithms.advantages against hand-worked numbers and references."""

from __future__ import annotations

import math

import pytest
import torch

from embodied_rl.algorithms.advantages import (
    gae,
    gae_chunk,
    group_has_signal,
    grpo_advantages,
    normalize_advantages,
    per_step_advantages,
)


def _col(values: list[float]) -> torch.Tensor:
    """A [T, 1] float32 column (one environment)."""
    return torch.tensor(values, dtype=torch.float32).unsqueeze(1)


def _bcol(values: list[bool]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.bool).unsqueeze(1)


def _reference_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> torch.Tensor:
    """Scalar Python loops over every env and step, in float64."""
    T, N = rewards.shape
    out = torch.zeros(T, N, dtype=torch.float64)
    for n in range(N):
        next_adv = 0.0
        for t in reversed(range(T)):
            r = float(rewards[t, n])
            bootstrap = 0.0 if bool(terminated[t, n]) else float(next_values[t, n])
            delta = r + gamma * bootstrap - float(values[t, n])
            if bool(dones[t, n]):
                next_adv = 0.0
            next_adv = delta + gamma * gae_lambda * next_adv
            out[t, n] = next_adv
    return out


def test_gae_hand_worked_three_step_episode() -> None:
    # gamma = 0.9, lambda = 0.8, gamma * lambda = 0.72; the episode terminates at t=2.
    rewards = _col([1.0, 2.0, 3.0])
    values = _col([0.5, 1.0, 1.5])
    next_values = _col([1.0, 1.5, 999.0])  # 999 must be ignored: terminal step
    terminated = _bcol([False, False, True])
    dones = terminated.clone()
    # delta_0 = 1 + 0.9*1.0 - 0.5 = 1.4
    # delta_1 = 2 + 0.9*1.5 - 1.0 = 2.35
    # delta_2 = 3 + 0            - 1.5 = 1.5
    # A_2 = 1.5
    # A_1 = 2.35 + 0.72*1.5  = 2.35 + 1.08   = 3.43
    # A_0 = 1.4  + 0.72*3.43 = 1.4  + 2.4696 = 3.8696
    # returns = A + V = [4.3696, 4.43, 3.0]
    adv, ret = gae(rewards, values, next_values, terminated, dones, 0.9, 0.8)
    torch.testing.assert_close(adv, _col([3.8696, 3.43, 1.5]))
    torch.testing.assert_close(ret, _col([4.3696, 4.43, 3.0]))
    assert adv.dtype == torch.float32


def test_gae_hand_worked_no_done_bootstraps_last_step() -> None:
    rewards = _col([1.0, 2.0, 3.0])
    values = _col([0.5, 1.0, 1.5])
    next_values = _col([1.0, 1.5, 2.0])  # 2.0 is the bootstrap value
    none = _bcol([False, False, False])
    # delta_2 = 3 + 0.9*2.0 - 1.5 = 3.3
    # A_1 = 2.35 + 0.72*3.3   = 2.35 + 2.376   = 4.726
    # A_0 = 1.4  + 0.72*4.726 = 1.4  + 3.40272 = 4.80272
    adv, ret = gae(rewards, values, next_values, none, none, 0.9, 0.8)
    torch.testing.assert_close(adv, _col([4.80272, 4.726, 3.3]))
    torch.testing.assert_close(ret, _col([5.30272, 5.726, 4.8]))


def test_gae_terminated_mid_rollout_does_not_bootstrap_or_leak() -> None:
    # t=0 ends an episode by termination; t=1 starts a new one.
    rewards = _col([1.0, 1.0])
    values = _col([2.0, 100.0])
    next_values = _col([50.0, 0.0])
    terminated = _bcol([True, False])
    # delta_0 = 1 + 0 - 2 = -1 (next_values[0]=50 ignored), and A_1 is cut off: A_0 = -1
    # delta_1 = 1 + 0.9*0 - 100 = -99
    adv, _ = gae(rewards, values, next_values, terminated, terminated.clone(), 0.9, 0.8)
    torch.testing.assert_close(adv, _col([-1.0, -99.0]))


def test_gae_truncated_step_bootstraps_from_next_values() -> None:
    # t=0 is truncated: V(final obs) = next_values[0] = 5, values[1] = 100 is the reset obs.
    rewards = _col([1.0, 1.0])
    values = _col([0.0, 100.0])
    next_values = _col([5.0, 0.0])
    terminated = _bcol([False, False])
    dones = _bcol([True, False])
    # delta_0 = 1 + 0.9*5 - 0 = 5.5; the recursion is cut, so A_0 = 5.5
    # (wrongly using values[1]: 1 + 0.9*100 = 91; wrongly not cutting: 5.5 + 0.72*(-99))
    adv, ret = gae(rewards, values, next_values, terminated, dones, 0.9, 0.8)
    torch.testing.assert_close(adv, _col([5.5, -99.0]))
    torch.testing.assert_close(ret, _col([5.5, 1.0]))


def test_gae_terminated_implies_done_even_if_dones_false() -> None:
    rewards = _col([1.0, 1.0])
    values = _col([2.0, 100.0])
    next_values = _col([50.0, 0.0])
    terminated = _bcol([True, False])
    adv, _ = gae(rewards, values, next_values, terminated, _bcol([False, False]), 0.9, 0.8)
    torch.testing.assert_close(adv, _col([-1.0, -99.0]))


def test_gae_lambda_one_is_monte_carlo_return_minus_value() -> None:
    gen = torch.Generator().manual_seed(0)
    T, N, gamma = 7, 3, 0.97
    rewards = torch.randn(T, N, generator=gen, dtype=torch.float64)
    all_values = torch.randn(T + 1, N, generator=gen, dtype=torch.float64)
    values, next_values = all_values[:-1], all_values[1:]  # consistent: no episode ends
    none = torch.zeros(T, N, dtype=torch.bool)
    adv, ret = gae(rewards, values, next_values, none, none, gamma, 1.0)
    # G_t = sum_{k=t}^{T-1} gamma^(k-t) r_k + gamma^(T-t) V_boot
    mc = torch.zeros(T, N, dtype=torch.float64)
    running = all_values[-1].clone()
    for t in reversed(range(T)):
        running = rewards[t] + gamma * running
        mc[t] = running
    torch.testing.assert_close(adv, mc - values)
    torch.testing.assert_close(ret, mc)
    assert adv.dtype == torch.float64


def test_gae_lambda_zero_is_one_step_td_error() -> None:
    gen = torch.Generator().manual_seed(1)
    T, N, gamma = 6, 4, 0.9
    rewards, values, next_values = (torch.randn(T, N, generator=gen) for _ in range(3))
    terminated = torch.rand(T, N, generator=gen) < 0.3
    dones = terminated | (torch.rand(T, N, generator=gen) < 0.3)
    adv, _ = gae(rewards, values, next_values, terminated, dones, gamma, 0.0)
    td = rewards + gamma * (~terminated).float() * next_values - values
    torch.testing.assert_close(adv, td)


def test_gae_envs_are_independent() -> None:
    gen = torch.Generator().manual_seed(2)
    T, N = 5, 2
    rewards, values, next_values = (torch.randn(T, N, generator=gen) for _ in range(3))
    terminated = torch.tensor([[False, True], [True, False], [False, False], [False, True], [False, False]])
    dones = terminated | torch.tensor(
        [[False, False], [False, True], [True, False], [False, False], [False, False]]
    )
    adv, ret = gae(rewards, values, next_values, terminated, dones, 0.95, 0.9)
    for n in range(N):
        s = slice(n, n + 1)
        adv_n, ret_n = gae(
            rewards[:, s], values[:, s], next_values[:, s], terminated[:, s], dones[:, s], 0.95, 0.9
        )
        torch.testing.assert_close(adv[:, s], adv_n)
        torch.testing.assert_close(ret[:, s], ret_n)
    # and changing env 1 leaves env 0 untouched
    rewards2 = rewards.clone()
    rewards2[:, 1] += 10.0
    adv2, _ = gae(rewards2, values, next_values, terminated, dones, 0.95, 0.9)
    torch.testing.assert_close(adv2[:, 0], adv[:, 0])
    assert not torch.allclose(adv2[:, 1], adv[:, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_matches_python_loop_reference(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    T, N, gamma, lam = 20, 5, 0.99, 0.95
    rewards, values, next_values = (torch.randn(T, N, generator=gen) for _ in range(3))
    terminated = torch.rand(T, N, generator=gen) < 0.1
    dones = terminated | (torch.rand(T, N, generator=gen) < 0.1)
    adv, ret = gae(rewards, values, next_values, terminated, dones, gamma, lam)
    expected = _reference_gae(rewards, values, next_values, terminated, dones, gamma, lam)
    torch.testing.assert_close(adv.double(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ret, adv + values)


def test_gae_does_not_modify_inputs_and_rejects_bad_shapes() -> None:
    rewards = _col([1.0, 2.0])
    before = rewards.clone()
    none = _bcol([False, False])
    gae(rewards, rewards, rewards, none, none, 0.9, 0.9)
    torch.testing.assert_close(rewards, before)
    with pytest.raises(ValueError, match="values"):
        gae(rewards, _col([1.0]), rewards, none, none, 0.9, 0.9)


def test_gae_chunk_hand_worked_k2() -> None:
    # T=2, N=1, K=2; gamma=0.9 applied once per chunk, lambda=0.8, no dones.
    rewards = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])  # [2, 1, 2]
    values = _col([0.5, 1.0])
    next_values = _col([1.0, 2.0])
    none = _bcol([False, False])
    # chunk rewards: 1+2 = 3, 3+4 = 7
    # delta_0 = 3 + 0.9*1.0 - 0.5 = 3.4
    # delta_1 = 7 + 0.9*2.0 - 1.0 = 7.8
    # A_1 = 7.8;  A_0 = 3.4 + 0.72*7.8 = 3.4 + 5.616 = 9.016
    adv, ret = gae_chunk(rewards, values, next_values, none, none, 0.9, 0.8)
    torch.testing.assert_close(adv, _col([9.016, 7.8]))
    torch.testing.assert_close(ret, _col([9.516, 8.8]))


def test_gae_chunk_equals_gae_on_summed_rewards() -> None:
    gen = torch.Generator().manual_seed(3)
    T, N, K = 8, 3, 4
    rewards = torch.randn(T, N, K, generator=gen)
    values, next_values = (torch.randn(T, N, generator=gen) for _ in range(2))
    terminated = torch.rand(T, N, generator=gen) < 0.2
    dones = terminated | (torch.rand(T, N, generator=gen) < 0.2)
    adv, ret = gae_chunk(rewards, values, next_values, terminated, dones, 0.99, 0.95)
    adv_ref, ret_ref = gae(rewards.sum(-1), values, next_values, terminated, dones, 0.99, 0.95)
    torch.testing.assert_close(adv, adv_ref)
    torch.testing.assert_close(ret, ret_ref)
    with pytest.raises(ValueError, match="K"):
        gae_chunk(rewards[..., 0], values, next_values, terminated, dones, 0.99, 0.95)


def test_grpo_advantages_hand_worked() -> None:
    # group 1: [1,0,0,1], mean 0.5, population std 0.5 -> [1,-1,-1,1]
    # group 2: [1,1,1,0], mean 0.75, var = (3*0.25^2 + 0.75^2)/4 = 0.75/4 = 0.1875,
    #          std = sqrt(0.1875) = sqrt(3)/4 -> 0.25/std = 1/sqrt(3), -0.75/std = -sqrt(3)
    # group 3: [2,2,2,2], std 0 -> 0/(0+eps) = 0
    returns = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 0, 2, 2, 2, 2])
    adv = grpo_advantages(returns, group_size=4, eps=1e-12)
    s3 = 1.0 / math.sqrt(3.0)
    expected = torch.tensor([1.0, -1, -1, 1, s3, s3, s3, -math.sqrt(3.0), 0, 0, 0, 0])
    torch.testing.assert_close(adv, expected)
    # default eps=1e-6 shrinks the first group slightly: 0.5 / (0.5 + 1e-6)
    adv_eps = grpo_advantages(returns, group_size=4)
    assert adv_eps[0].item() == pytest.approx(0.5 / (0.5 + 1e-6), rel=1e-6)


def test_grpo_advantages_without_std_scaling_and_properties() -> None:
    # Dr. GRPO: [1,0,0,1] - 0.5 and [3,1] - 2
    returns = torch.tensor([1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 5.0, 7.0])
    adv = grpo_advantages(returns[:4], group_size=4, scale_by_std=False)
    torch.testing.assert_close(adv, torch.tensor([0.5, -0.5, -0.5, 0.5]))
    adv2 = grpo_advantages(returns, group_size=2, scale_by_std=False)
    torch.testing.assert_close(adv2, torch.tensor([0.5, -0.5, -0.5, 0.5, 1.0, -1.0, -1.0, 1.0]))
    # property: advantages sum to zero within each group; scaled ones have unit pop. std
    gen = torch.Generator().manual_seed(4)
    r = torch.randn(24, generator=gen)
    a = grpo_advantages(r, group_size=6, eps=0.0).view(4, 6)
    torch.testing.assert_close(a.sum(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(a.std(1, unbiased=False), torch.ones(4))
    # integer / bool returns are accepted
    torch.testing.assert_close(
        grpo_advantages(torch.tensor([1, 0]), 2, scale_by_std=False), torch.tensor([0.5, -0.5])
    )


def test_grpo_advantages_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="divisible"):
        grpo_advantages(torch.zeros(6), group_size=4)
    with pytest.raises(ValueError, match="group_size"):
        grpo_advantages(torch.zeros(6), group_size=1)
    with pytest.raises(ValueError, match="1-D"):
        grpo_advantages(torch.zeros(2, 4), group_size=4)
    with pytest.raises(ValueError, match="divisible"):
        group_has_signal(torch.zeros(5), group_size=2)


def test_group_has_signal() -> None:
    returns = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.5, 0.5001])
    mask = group_has_signal(returns, group_size=2)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [True, True, False, False, False, False, True, True]
    # spread 0.0001 <= atol 1e-3 -> that group is also filtered
    loose = group_has_signal(returns, group_size=2, atol=1e-3)
    assert loose.tolist() == [True, True, False, False, False, False, False, False]
    # constant groups are exactly the ones with zero GRPO advantage
    adv = grpo_advantages(returns, group_size=2)
    assert torch.all(adv[~mask] == 0)


def test_normalize_advantages_unbiased_std() -> None:
    # [1,2,3,4]: mean 2.5, unbiased var = (2.25+0.25+0.25+2.25)/3 = 5/3, std = 1.2909944
    adv = torch.tensor([1.0, 2.0, 3.0, 4.0])
    out = normalize_advantages(adv, eps=0.0)
    std = math.sqrt(5.0 / 3.0)
    torch.testing.assert_close(out, torch.tensor([-1.5, -0.5, 0.5, 1.5]) / std)
    torch.testing.assert_close(out, (adv - adv.mean()) / adv.std())  # torch default == SB3


def test_normalize_advantages_masked() -> None:
    # valid entries [1, 3]: mean 2, unbiased std sqrt((1+1)/1) = sqrt(2); 100 is ignored
    adv = torch.tensor([1.0, 100.0, 3.0, float("nan")])
    mask = torch.tensor([True, False, True, False])
    out = normalize_advantages(adv, mask, eps=0.0)
    r2 = 1.0 / math.sqrt(2.0)
    torch.testing.assert_close(out, torch.tensor([-r2, 0.0, r2, 0.0]))
    # empty mask and single valid entry: zeros, no NaN
    empty = normalize_advantages(adv[:3], torch.zeros(3, dtype=torch.bool))
    torch.testing.assert_close(empty, torch.zeros(3))
    single = normalize_advantages(torch.tensor([5.0, 7.0]), torch.tensor([True, False]))
    torch.testing.assert_close(single, torch.zeros(2))


def test_per_step_advantages_hand_worked() -> None:
    """Lengths 1, 3 and 2 (mean 2): scales 2, 2/3 and 1; without per_episode, A_i on every step."""
    adv = torch.tensor([0.6, -0.3, -0.3])
    mask = torch.tensor([[1, 1, 1], [0, 1, 1], [0, 1, 0]], dtype=torch.bool)
    plain = per_step_advantages(adv, mask)
    assert plain.shape == (3, 3)
    torch.testing.assert_close(plain, adv.expand(3, 3))
    weighted = per_step_advantages(adv, mask, per_episode=True)
    torch.testing.assert_close(weighted[0], torch.tensor([1.2, -0.2, -0.3]))
    # Every episode's summed weight over its own steps is A_i * L_mean.
    torch.testing.assert_close((weighted * mask).sum(0), adv * 2.0)


def test_per_step_advantages_empty_episode_and_bad_shapes() -> None:
    mask = torch.tensor([[1, 0], [1, 0]], dtype=torch.bool)
    out = per_step_advantages(torch.tensor([1.0, 5.0]), mask, per_episode=True)
    torch.testing.assert_close(out[:, 1], torch.zeros(2))
    with pytest.raises(ValueError, match=r"\[T, B\]"):
        per_step_advantages(torch.ones(3), torch.ones(2, 2))
