"""Action tokens: binning, action-vocabulary masking, sampling / likelihood, ActionTokenHead."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from embodied_rl.policies.heads.action_tokens import (
    ActionTokenHead,
    ActionTokenizer,
    action_logits,
    aggregate,
    bin_entropy,
    bin_log_probs,
    mask_to_action_vocab,
    sample_bins,
)

LOW = torch.tensor([-1.0, 0.0, -5.0, 10.0])
HIGH = torch.tensor([1.0, 0.5, 3.0, 10.25])


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- ActionTokenizer -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [7, 256])
def test_roundtrip_error_at_most_half_a_bin(n_bins: int) -> None:
    tok = ActionTokenizer(LOW, HIGH, n_bins=n_bins)
    half = tok.max_roundtrip_error()
    assert torch.allclose(half, (HIGH - LOW).double() / (2 * n_bins))
    u = torch.rand(20_000, 4, generator=_gen(), dtype=torch.float64)
    actions = LOW.double() + u * (HIGH - LOW).double()
    bins = tok.encode(actions)
    assert bins.dtype == torch.long and bins.min() >= 0 and bins.max() < n_bins
    err = (tok.decode(bins, dtype=torch.float64) - actions).abs()
    assert (err <= half + 1e-12).all()
    assert (err.amax(0) > 0.95 * half).all()  # the bound is tight, i.e. bins are really that wide
    assert torch.equal(torch.unique(bins[:, 0]), torch.arange(n_bins))  # every bin is used

    # Exact boundaries: low is in bin 0, high in the last bin, both half a bin from the centre.
    edges = torch.stack([LOW, HIGH]).double()
    edge_bins = tok.encode(edges)
    assert edge_bins[0].tolist() == [0] * 4 and edge_bins[1].tolist() == [n_bins - 1] * 4
    assert torch.allclose((tok.decode(edge_bins, dtype=torch.float64) - edges).abs(), half.expand(2, 4))


def test_encode_clips_out_of_range_and_is_monotone() -> None:
    tok = ActionTokenizer(-1.0, 1.0, n_bins=10)
    assert tok.encode(torch.tensor([[-7.0], [7.0], [float("inf")]])).flatten().tolist() == [0, 9, 9]
    x = torch.linspace(-1, 1, 1001).unsqueeze(-1)
    bins = tok.encode(x).flatten()
    assert (bins.diff() >= 0).all() and bins[0] == 0 and bins[-1] == 9
    # Bin b covers [low + b w, low + (b + 1) w): 0.2 is the lower edge of bin 6.
    assert tok.encode(torch.tensor([[0.2 - 1e-6], [0.2 + 1e-6]])).flatten().tolist() == [5, 6]
    with pytest.raises(ValueError, match="last dim"):
        tok.encode(torch.zeros(3, 2))


def test_invalid_bounds_raise() -> None:
    with pytest.raises(ValueError, match="finite"):
        ActionTokenizer([-float("inf")], [1.0])
    with pytest.raises(ValueError, match="low < high"):
        ActionTokenizer([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="differ"):
        ActionTokenizer([0.0], [1.0, 2.0])


def test_from_space_replaces_infinite_bounds() -> None:
    gym = pytest.importorskip("gymnasium")
    box = gym.spaces.Box(
        low=np.array([-np.inf, -2.0, 0.0], dtype=np.float32),
        high=np.array([np.inf, 2.0, np.inf], dtype=np.float32),
    )
    tok = ActionTokenizer.from_space(box, n_bins=8, default_range=3.0)
    assert tok.low.tolist() == [-3.0, -2.0, 0.0] and tok.high.tolist() == [3.0, 2.0, 3.0]
    assert tok.n_bins == 8 and tok.action_dim == 3


def test_from_dataset_uses_quantiles() -> None:
    rng = np.random.default_rng(0)
    data = np.stack([rng.normal(size=5000), rng.uniform(-2, 4, size=5000), np.full(5000, 0.7)], axis=1)
    data[:10, 0] = 1e6  # outliers beyond the 99th percentile must not stretch the range
    tok = ActionTokenizer.from_dataset(torch.as_tensor(data), quantile=0.01, n_bins=16)
    np.testing.assert_allclose(tok.low[:2].numpy(), np.quantile(data[:, :2], 0.01, axis=0))
    np.testing.assert_allclose(tok.high[:2].numpy(), np.quantile(data[:, :2], 0.99, axis=0))
    assert tok.high[0] < 5.0
    assert tok.low[2] < 0.7 < tok.high[2] and tok.high[2] - tok.low[2] == pytest.approx(1e-6)  # constant dim
    assert torch.allclose(
        tok.decode(tok.encode(torch.full((1, 3), 0.7)), torch.float64)[0, 2], torch.tensor(0.7).double()
    )
    full = ActionTokenizer.from_dataset(data, quantile=0.0)
    assert full.high[0] == 1e6


def test_dict_roundtrip_and_vocab_layout() -> None:
    tok = ActionTokenizer.for_vocab(1000, LOW, HIGH, n_bins=256)
    assert tok.token_offset == 1000 - 256
    state = json.loads(json.dumps(tok.to_dict()))
    tok2 = ActionTokenizer.from_dict(state)
    assert torch.equal(tok2.low, tok.low) and torch.equal(tok2.high, tok.high)
    assert (tok2.n_bins, tok2.token_offset) == (256, 744)
    bins = torch.tensor([[0, 1, 128, 255]])
    ids = tok.to_tokens(bins)
    assert ids.tolist() == [[744, 745, 872, 999]]
    assert torch.equal(tok.from_tokens(ids), bins)
    with pytest.raises(ValueError, match="outside"):
        tok.from_tokens(torch.tensor([743]))
    with pytest.raises(ValueError):
        ActionTokenizer.for_vocab(100, LOW, HIGH, n_bins=256)


# -- action vocabulary -------------------------------------------------------------------------------------------


def test_action_vocab_restriction_never_samples_other_tokens() -> None:
    vocab, offset, n_bins = 64, 40, 16
    logits = torch.randn(10_000, vocab, generator=_gen())
    logits[:, :offset] += 100.0  # non-action ids would win without the mask
    logits[:, offset + n_bins :] += 100.0

    masked = mask_to_action_vocab(logits, offset, n_bins)
    ids = sample_bins(masked, generator=_gen(1))
    assert ids.min() >= offset and ids.max() < offset + n_bins
    assert len(torch.unique(ids)) == n_bins
    assert sample_bins(masked, deterministic=True).min() >= offset

    sliced = action_logits(logits, offset, n_bins)
    assert sliced.shape == (10_000, n_bins)
    bins = sample_bins(sliced, generator=_gen(2))
    assert bins.min() >= 0 and bins.max() < n_bins
    # Same distribution both ways; non-action ids get probability 0.
    p_full = torch.softmax(masked, -1)
    assert torch.allclose(p_full[:, offset : offset + n_bins], torch.softmax(sliced, -1), atol=1e-6)
    assert p_full[:, :offset].max() == 0 and p_full[:, offset + n_bins :].max() == 0
    with pytest.raises(ValueError, match="do not fit"):
        action_logits(logits, 60, 16)


def test_top_k_restricts_samples() -> None:
    logits = torch.randn(2, 32, generator=_gen())
    draws = sample_bins(logits.unsqueeze(1).expand(2, 5000, 32), top_k=3, generator=_gen(1))
    for row in range(2):
        top3 = set(logits[row].topk(3).indices.tolist())
        assert set(torch.unique(draws[row]).tolist()) == top3
    assert torch.equal(sample_bins(logits, top_k=1, generator=_gen(2)), logits.argmax(-1))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_frequencies_match_tempered_softmax(temperature: float) -> None:
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5])
    draws = sample_bins(logits.expand(40_000, 5), temperature=temperature, generator=_gen())
    freq = torch.bincount(draws, minlength=5).float() / draws.numel()
    assert torch.allclose(freq, torch.softmax(logits / temperature, -1), atol=0.01)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_bin_log_probs_and_entropy_match_categorical(temperature: float) -> None:
    logits = torch.randn(3, 4, 5, 11, generator=_gen())
    bins = torch.randint(0, 11, (3, 4, 5), generator=_gen(1))
    dist = torch.distributions.Categorical(logits=logits / temperature)
    assert torch.allclose(bin_log_probs(logits, bins, temperature), dist.log_prob(bins), atol=1e-6)
    assert torch.allclose(bin_entropy(logits, temperature), dist.entropy(), atol=1e-6)
    assert torch.equal(sample_bins(logits, temperature, deterministic=True), logits.argmax(-1))
    with pytest.raises(ValueError, match="temperature"):
        bin_log_probs(logits, bins, 0.0)


def test_aggregate_levels() -> None:
    x = torch.randn(2, 3, 4)
    assert aggregate(x, "dim") is x
    assert torch.allclose(aggregate(x, "action"), x.sum(-1)) and aggregate(x, "action").shape == (2, 3)
    assert torch.allclose(aggregate(x, "chunk"), x.sum((1, 2))) and aggregate(x, "chunk").shape == (2,)
    with pytest.raises(ValueError, match="unknown level"):
        aggregate(x, "token")  # type: ignore[arg-type]


# -- ActionTokenHead -------------------------------------------------------------------------------------------

DECODINGS = ["parallel", "sequential"]


def _head(decoding: str, **kwargs) -> ActionTokenHead:
    torch.manual_seed(0)
    defaults = dict(cond_dim=6, action_dim=3, chunk=2, n_bins=16, decoding=decoding, embed_dim=32)
    return ActionTokenHead(**{**defaults, **kwargs})


@pytest.mark.parametrize("decoding", DECODINGS)
@pytest.mark.parametrize("batch", [1, 3, 8])
def test_head_log_prob_reproduces_sample(decoding: str, batch: int) -> None:
    head = _head(decoding, temperature=0.7, low=[-1.0, 0.0, -2.0], high=[1.0, 1.0, 2.0])
    cond = torch.randn(batch, 6, generator=_gen(batch))
    with torch.no_grad():
        actions, log_prob, extras = head.sample(cond, generator=_gen(1))
    bins = extras["action_bins"]
    assert actions.shape == log_prob.shape == bins.shape == (batch, 2, 3) and bins.dtype == torch.long
    assert torch.allclose(actions, head.tokenizer.decode(bins))
    assert (log_prob < 0).all()

    new_log_prob, entropy = head.log_prob(cond, extras)
    assert new_log_prob.requires_grad and entropy.shape == (batch, 2, 3)
    assert torch.allclose(new_log_prob, log_prob, atol=1e-6, rtol=0)
    assert torch.allclose(
        torch.exp(aggregate(new_log_prob - log_prob, "chunk")), torch.ones(batch), atol=1e-5
    )
    new_log_prob.sum().backward()
    assert head.cond_proj.weight.grad is not None and head.cond_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("decoding", DECODINGS)
def test_head_log_prob_on_permuted_sub_batch(decoding: str) -> None:
    head = _head(decoding)
    cond = torch.randn(8, 6, generator=_gen())
    with torch.no_grad():
        _, log_prob, extras = head.sample(cond, generator=_gen(1))
    idx = torch.tensor([5, 0, 7, 2])
    sub_log_prob, _ = head.log_prob(cond[idx], {"action_bins": extras["action_bins"][idx]})
    assert torch.allclose(sub_log_prob, log_prob[idx], atol=1e-5, rtol=0)


@pytest.mark.parametrize("decoding", DECODINGS)
def test_head_sampling_is_seeded_and_greedy_is_argmax(decoding: str) -> None:
    head = _head(decoding)
    cond = torch.randn(5, 6, generator=_gen())
    with torch.no_grad():
        a1 = head.sample(cond, generator=_gen(3))[2]["action_bins"]
        a2 = head.sample(cond, generator=_gen(3))[2]["action_bins"]
        a3 = head.sample(cond, generator=_gen(4))[2]["action_bins"]
        greedy = head.sample(cond, deterministic=True)[2]["action_bins"]
        # Greedy bins are the argmax of the teacher-forced logits at every position (for sequential:
        # the incremental sampling passes agree with the one-pass evaluation).
        tf_logits = head.logits(cond, greedy)
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)
    assert torch.equal(greedy, tf_logits.argmax(-1))


def test_head_top_k_only_restricts_sampling() -> None:
    head = _head("parallel", top_k=1)
    cond = torch.randn(4, 6, generator=_gen())
    with torch.no_grad():
        _, log_prob, extras = head.sample(cond, generator=_gen(1))
        greedy = head.sample(cond, deterministic=True)[2]["action_bins"]
    assert torch.equal(extras["action_bins"], greedy)
    # The likelihood is of the full (temperature-scaled) distribution, not of the top-1 one (which is 0).
    assert (log_prob < -1e-3).all()
    assert torch.allclose(head.log_prob(cond, extras)[0], log_prob)


def test_sequential_head_is_autoregressive_and_causal() -> None:
    head = _head("sequential")
    cond = torch.randn(2, 6, generator=_gen())
    bins = torch.randint(0, 16, (2, 2, 3), generator=_gen(1))
    changed = bins.clone()
    changed[:, 0, 1] = (bins[:, 0, 1] + 5) % 16  # token t = 1
    with torch.no_grad():
        base = head.logits(cond, bins).reshape(2, 6, 16)
        new = head.logits(cond, changed).reshape(2, 6, 16)
    assert torch.allclose(base[:, :2], new[:, :2], atol=1e-6)  # tokens <= 1 cannot see token 1
    assert ((base[:, 2:] - new[:, 2:]).abs().amax(-1) > 1e-4).all()  # every later token does

    parallel = _head("parallel")
    with torch.no_grad():
        assert torch.equal(parallel.logits(cond, bins), parallel.logits(cond, changed))


@pytest.mark.parametrize("decoding", DECODINGS)
def test_sft_loss_learns_a_fixed_mapping(decoding: str) -> None:
    head = _head(decoding, n_bins=32, low=-1.0, high=1.0)
    cond = torch.eye(6)[:4]
    targets = torch.rand(4, 2, 3, generator=_gen(7)) * 2 - 1
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    first = head.sft_loss(cond, targets).item()
    for _ in range(200):
        loss = head.sft_loss(cond, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    with torch.no_grad():
        actions, _, extras = head.sample(cond, deterministic=True)
    width = 2.0 / 32
    assert (actions - targets).abs().max() <= width + 1e-6
    assert (extras["action_bins"] - head.tokenizer.encode(targets)).abs().max() <= 1


def test_head_bounds_travel_with_state_dict() -> None:
    head = _head("parallel", low=[-1.0, 0.0, -2.0], high=[1.0, 1.0, 2.0])
    other = _head("parallel")
    other.load_state_dict(head.state_dict())
    assert torch.equal(other.tokenizer.low, torch.tensor([-1.0, 0.0, -2.0], dtype=torch.float64))
    assert torch.equal(other.tokenizer.high, torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64))
    tok = ActionTokenizer(LOW[:3], HIGH[:3], n_bins=16)
    assert torch.equal(_head("sequential", tokenizer=tok).tokenizer.high, tok.high)
    with pytest.raises(ValueError, match="n_bins"):
        _head("parallel", tokenizer=ActionTokenizer(LOW[:3], HIGH[:3], n_bins=8))
    with pytest.raises(ValueError, match="decoding"):
        _head("beam")
    assert math.isclose(float(head.tokenizer.max_roundtrip_error()[2]), 4.0 / 32)
