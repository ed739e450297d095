"""Free-text head: generation with stop strings / eos / padding, re-scoring, multi-turn loss masks."""

from __future__ import annotations

import math

import pytest
import torch
from embodied_rl.policies.heads.text import (
    GenerationOutput,
    build_multiturn,
    generate,
    pad_batch,
    position_ids_from_mask,
    sequence_log_probs,
)

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

CORPUS = [
    "Click the button at (10, 20). </act>",
    "type hello world into the search box",
    "Observation: the page shows a list of items.",
    "<tool>search</tool> result: 3 items found",
]


@pytest.fixture(scope="module")
def tokenizer():
    """Byte-level BPE trained in memory (no hub), wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>", "<pad>"],
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 3, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>"
    )


@pytest.fixture(scope="module")
def model(tokenizer):
    """A 2-layer Qwen2 with random weights; a larger lm_head makes its distributions less flat."""
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    lm = transformers.Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        lm.lm_head.weight.mul_(20.0)
    return lm


class ScriptedLM:
    """Fake causal LM: row ``b`` puts ``margin`` on ``scripts[b][n]`` after ``n`` generated tokens.

    Same call signature as a HF model; returns bare logits (no cache), so :func:`generate`
    re-runs it on the full sequence each step. Checks the position-id convention on every call.
    """

    def __init__(self, scripts: list[list[int]], prompt_lens: list[int], vocab: int, margin: float = 30.0):
        self.scripts, self.prompt_lens, self.vocab, self.margin = scripts, prompt_lens, vocab, margin
        self.calls = 0

    def __call__(self, input_ids, attention_mask, position_ids, past_key_values=None, use_cache=False):
        self.calls += 1
        assert past_key_values is None
        assert torch.equal(position_ids, position_ids_from_mask(attention_mask))
        batch, length = input_ids.shape
        logits = torch.zeros(batch, length, self.vocab)
        for b in range(batch):
            n = int(attention_mask[b].sum()) - self.prompt_lens[b]
            logits[b, -1, self.scripts[b][min(n, len(self.scripts[b]) - 1)]] = self.margin
        return logits


def _scripted_log_prob(margin: float, vocab: int, temperature: float) -> float:
    z = margin / temperature
    return z - math.log(math.exp(z) + vocab - 1)


def _first_stop(tokenizer, ids: list[int], stop: str) -> int:
    """Smallest k with ``stop`` in decode(ids[:k]) (the reference the library must match)."""
    return next(k for k in range(1, len(ids) + 1) if stop in tokenizer.decode(ids[:k]))


# -- stop conditions (fake model) ----------------------------------------------------------------------------


def test_stop_string_eos_and_length_per_row(tokenizer) -> None:
    eos, pad, vocab = tokenizer.eos_token_id, tokenizer.pad_token_id, len(tokenizer)
    scripts = [
        tokenizer.encode("Click ok </act> and then more text after the stop"),
        tokenizer.encode("type hello world") + [eos],
        tokenizer.encode("Observation: this page shows many unusual widgets, quite long."),
    ]
    prompts = [
        tokenizer.encode("prompt with </act> inside"),
        tokenizer.encode("hi"),
        tokenizer.encode("a b c d"),
    ]
    fake = ScriptedLM(scripts, [len(p) for p in prompts], vocab)
    out = generate(
        fake,
        tokenizer,
        prompts,
        max_new_tokens=14,
        stop_strings=("</act>",),
        temperature=0.5,
        generator=torch.Generator().manual_seed(0),
    )
    assert isinstance(out, GenerationOutput)
    k_stop = _first_stop(tokenizer, scripts[0], "</act>")
    lengths = [k_stop, len(scripts[1]), 14]
    assert k_stop < len(scripts[0]) and len(scripts[1]) < 14 < len(scripts[2])
    assert out.finish_reason == ["stop", "eos", "length"]
    assert out.mask.sum(1).tolist() == lengths and out.token_ids.shape == (3, 14)
    for row, n in enumerate(lengths):
        assert out.mask[row, :n].all() and not out.mask[row, n:].any()
        assert out.token_ids[row, :n].tolist() == scripts[row][:n] == out.generated(row)
        assert (out.token_ids[row, n:] == pad).all() and (out.log_probs[row, n:] == 0).all()
    expected = _scripted_log_prob(30.0, vocab, 0.5)
    assert torch.allclose(out.log_probs[out.mask], torch.full((sum(lengths),), expected), atol=1e-5)
    # The stop string is in the text (nothing after it); the eos token is not.
    assert out.texts[0] == "Click ok </act>"
    assert out.texts[1] == "type hello world"
    assert out.texts[2] == tokenizer.decode(scripts[2][:14])
    assert fake.calls == 14  # one prefill, then one call per further step, no extra step at the end


def test_stop_text_is_cut_inside_the_last_token(tokenizer) -> None:
    script = tokenizer.encode("Click ok </act> more")
    pieces = [tokenizer.decode([t]) for t in script]
    assert pieces[6:8] == ["</", "ac"]  # "</a" ends in the middle of the token "ac"
    fake = ScriptedLM([script, script], [1, 1], len(tokenizer))
    out = generate(fake, tokenizer, [[5], [5]], 20, stop_strings=("</a",), deterministic=True)
    k = _first_stop(tokenizer, script, "</a")
    assert k == 8 and out.mask.sum(1).tolist() == [k, k] and out.finish_reason == ["stop", "stop"]
    assert out.generated(0) == script[:k] and tokenizer.decode(script[:k]) == "Click ok </ac"
    assert out.texts == ["Click ok </a", "Click ok </a"]  # tokens keep "ac"; the text is cut after the stop

    # Several stop strings: the first one to appear wins ("k </" is complete one token earlier).
    out = generate(fake, tokenizer, [[5], [5]], 20, stop_strings=("</a", "k </"), deterministic=True)
    assert out.mask.sum(1).tolist() == [7, 7] and out.texts == ["Click ok </", "Click ok </"]


def test_max_new_tokens_and_eos_without_stop_strings(tokenizer) -> None:
    eos = tokenizer.eos_token_id
    scripts = [[40, 41, eos, 42], [43] * 10]
    fake = ScriptedLM(scripts, [2, 3], len(tokenizer))
    prompts = [[7, 8], [7, 8, 9]]
    out = generate(fake, tokenizer, prompts, max_new_tokens=5, deterministic=True)
    assert out.token_ids.shape == (2, 5) and out.mask.sum(1).tolist() == [3, 5]
    assert out.finish_reason == ["eos", "length"]
    assert out.token_ids[0, :3].tolist() == [40, 41, eos]
    out1 = generate(fake, tokenizer, prompts, max_new_tokens=1, deterministic=True)
    assert out1.token_ids.tolist() == [[40], [43]] and out1.finish_reason == ["length", "length"]
    out0 = generate(fake, tokenizer, prompts, max_new_tokens=0)
    assert out0.token_ids.shape == out0.log_probs.shape == out0.mask.shape == (2, 0)
    assert out0.texts == ["", ""]
    # A custom eos id set overrides the tokenizer's.
    out2 = generate(fake, tokenizer, prompts, max_new_tokens=5, deterministic=True, eos_token_id=[41, 43])
    assert out2.mask.sum(1).tolist() == [2, 1] and out2.finish_reason == ["eos", "eos"]
    with pytest.raises(ValueError, match="stop strings"):
        generate(fake, tokenizer, prompts, 3, stop_strings=("",))
    with pytest.raises(ValueError, match="at least one token"):
        generate(fake, tokenizer, [[]], 3)


# -- real tiny LM --------------------------------------------------------------------------------------------

PROMPTS = ["Click the button", "Observation: the page shows a list of items. Now type hello", "hi"]


def _prompts(tokenizer) -> list[list[int]]:
    return [tokenizer.encode(p) for p in PROMPTS]


def _full_logits(model, prompt: list[int], gen: list[int]) -> torch.Tensor:
    ids = torch.tensor([prompt + gen])
    with torch.no_grad():
        return model(input_ids=ids).logits[0, len(prompt) - 1 : -1]


def test_greedy_is_argmax_and_cache_matches_recompute(model, tokenizer) -> None:
    prompts = _prompts(tokenizer)
    out = generate(model, tokenizer, prompts, max_new_tokens=12, deterministic=True, temperature=0.8)
    for row, prompt in enumerate(prompts):
        gen = out.generated(row)
        assert len(gen) > 3
        logits = _full_logits(model, prompt, gen)  # unpadded, no cache, implicit positions
        assert gen == logits.argmax(-1).tolist()
        expected = torch.log_softmax(logits / 0.8, -1).gather(-1, torch.tensor(gen)[:, None]).squeeze(-1)
        assert torch.allclose(out.log_probs[row, : len(gen)], expected, atol=1e-5)

    for deterministic in (True, False):
        kwargs = dict(max_new_tokens=12, deterministic=deterministic, temperature=1.3)
        cached = generate(model, tokenizer, prompts, generator=torch.Generator().manual_seed(1), **kwargs)
        plain = generate(
            model, tokenizer, prompts, generator=torch.Generator().manual_seed(1), use_cache=False, **kwargs
        )
        assert torch.equal(cached.token_ids, plain.token_ids) and torch.equal(cached.mask, plain.mask)
        assert torch.allclose(cached.log_probs, plain.log_probs, atol=1e-5)


def test_results_do_not_depend_on_padding(model, tokenizer) -> None:
    prompts = _prompts(tokenizer)
    batch = generate(model, tokenizer, prompts, max_new_tokens=10, deterministic=True)
    assert len({len(p) for p in prompts}) == 3  # shorter and longer neighbours
    for row, prompt in enumerate(prompts):
        alone = generate(model, tokenizer, [prompt], max_new_tokens=10, deterministic=True)
        n = int(alone.mask.sum())
        assert alone.generated(0) == batch.generated(row)
        assert torch.allclose(alone.log_probs[0, :n], batch.log_probs[row, :n], atol=1e-5)
        assert alone.texts[0] == batch.texts[row] and alone.finish_reason[0] == batch.finish_reason[row]


@pytest.mark.parametrize("side", ["right", "left"])
def test_sequence_log_probs_reproduce_generate(model, tokenizer, side: str) -> None:
    prompts = _prompts(tokenizer)
    out = generate(model, tokenizer, prompts, 15, temperature=0.7, generator=torch.Generator().manual_seed(3))
    seqs, masks = [], []
    for row, prompt in enumerate(prompts):
        ids, loss_mask = build_multiturn([(prompt, False), (out.generated(row), True)])
        seqs.append(ids)
        masks.append(loss_mask)
    input_ids, attention_mask, loss_mask = pad_batch(seqs, masks, tokenizer.pad_token_id, side=side)
    log_probs, entropy = sequence_log_probs(model, input_ids, attention_mask, loss_mask, temperature=0.7)
    assert log_probs.shape == entropy.shape == input_ids.shape and log_probs.requires_grad
    assert (log_probs[~loss_mask] == 0).all() and (entropy[~loss_mask] == 0).all()
    assert torch.allclose(log_probs[loss_mask], out.log_probs[out.mask], atol=1e-5)  # row-major order in both
    assert (entropy[loss_mask] > 0).all()
    ratio = torch.exp((log_probs * loss_mask).sum(1) - out.log_probs.sum(1))
    assert torch.allclose(ratio, torch.ones(3), atol=1e-4)
    (-(log_probs.sum() + 0.01 * entropy.sum())).backward()
    assert model.lm_head.weight.grad is not None and model.lm_head.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_sequence_log_probs_formula_and_first_position(tokenizer) -> None:
    vocab = 11
    logits = torch.randn(2, 5, vocab, generator=torch.Generator().manual_seed(0))

    def fixed(input_ids, attention_mask, position_ids, past_key_values=None, use_cache=False):
        return logits

    input_ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    loss_mask = torch.ones(2, 5, dtype=torch.bool)
    attention_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    log_probs, entropy = sequence_log_probs(fixed, input_ids, attention_mask, loss_mask, temperature=2.0)
    dist = torch.distributions.Categorical(logits=logits[:, :-1] / 2.0)
    expected_lp, expected_ent = dist.log_prob(input_ids[:, 1:]), dist.entropy()
    valid = attention_mask[:, 1:].bool()
    assert (log_probs[:, 0] == 0).all() and (entropy[:, 0] == 0).all()
    assert torch.allclose(log_probs[:, 1:][valid], expected_lp[valid], atol=1e-6)
    assert torch.allclose(entropy[:, 1:][valid], expected_ent[valid], atol=1e-6)
    assert log_probs[0, 4] == 0 and entropy[0, 4] == 0  # padding


def test_three_turn_episode_loss_mask_and_log_probs(model, tokenizer) -> None:
    prompt = tokenizer.encode("Observation: the page shows a list of items.")
    tool = tokenizer.encode("<tool>search</tool> result: 3 items found")
    gen = torch.Generator().manual_seed(5)
    first = generate(model, tokenizer, [prompt], 8, stop_strings=("</act>",), generator=gen)
    act1 = first.generated(0)
    second = generate(model, tokenizer, [prompt + act1 + tool], 8, stop_strings=("</act>",), generator=gen)
    act2 = second.generated(0)
    turns = [(prompt, False), (act1, True), (tool, False), (act2, True)]
    ids, mask = build_multiturn(turns)
    n_p, n_1, n_t = len(prompt), len(act1), len(tool)
    assert ids == prompt + act1 + tool + act2
    assert mask == [False] * n_p + [True] * n_1 + [False] * n_t + [True] * len(act2)
    assert [i for i, m in enumerate(mask) if m] == list(range(n_p, n_p + n_1)) + list(
        range(n_p + n_1 + n_t, len(ids))
    )

    input_ids, attention_mask, loss_mask = pad_batch([ids], [mask], tokenizer.pad_token_id)
    with torch.no_grad():
        log_probs, _ = sequence_log_probs(model, input_ids, attention_mask, loss_mask)
    expected = torch.cat([first.log_probs[first.mask], second.log_probs[second.mask]])
    assert torch.allclose(log_probs[loss_mask], expected, atol=1e-5)

    cut_ids, cut_mask = build_multiturn(turns, max_length=n_p + n_1 + 2)
    assert cut_ids == ids[: n_p + n_1 + 2] and cut_mask == mask[: n_p + n_1 + 2]


def test_pad_batch_sides() -> None:
    ids, attn, loss = pad_batch([[1, 2, 3], [4]], [[False, True, True], [True]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and attn.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert loss.tolist() == [[False, True, True], [True, False, False]]
    ids, attn, loss = pad_batch([[1, 2, 3], [4]], None, pad_id=9, side="left")
    assert ids.tolist() == [[1, 2, 3], [9, 9, 4]] and attn.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert not loss.any()
    assert position_ids_from_mask(attn).tolist() == [[0, 1, 2], [0, 0, 0]]
    assert position_ids_from_mask(torch.tensor([[0, 1, 1, 0]])).tolist() == [[0, 0, 1, 1]]
    with pytest.raises(ValueError):
        pad_batch([[1, 2]], [[True]], pad_id=0)
