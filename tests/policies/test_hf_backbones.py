"""Transformers backbones (policies/backbones/hf.py): every family, tiny random models, offline."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from embodied_rl.policies.backbones.hf import (  # noqa: E402
    BACKBONE_JSON,
    BackboneInputs,
    HFBackbone,
    NotALocalDirectory,
    count_parameters,
)
from embodied_rl.policies.backbones.presets import FAMILIES, PRESETS, preset_config  # noqa: E402
from embodied_rl.policies.backbones.tokenizer import FAMILY_TOKENS, build_tokenizer  # noqa: E402

ALL = sorted(FAMILIES)
VLMS = [f for f in ALL if FAMILIES[f].kind != "text"]
TEXTS = ["pick up the red block", "open the top drawer of the cabinet and put the black bowl inside"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection fails the test: nothing here may reach the network."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def backbones() -> dict[str, HFBackbone]:
    """One tiny backbone per family, built lazily and shared (do not mutate)."""
    return {}


def _get(cache: dict[str, HFBackbone], family: str) -> HFBackbone:
    if family not in cache:
        torch.manual_seed(0)
        cache[family] = HFBackbone.build(family).eval()
    return cache[family]


def _images(seed: int, cams: list[int]) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(n)] for n in cams]


def _rows(bb: HFBackbone, cams: list[int], seed: int = 0) -> tuple[list[str], list[list[np.ndarray]] | None]:
    texts = [TEXTS[i % 2] for i in range(len(cams))]
    return texts, (None if bb.processor is None else _images(seed, cams))


def _cams(family: str) -> list[int]:
    """Cameras per row: two on the first row for the multi-camera families."""
    return [2, 1] if family in ("qwen2_5_vl", "qwen3_vl", "idefics3", "paligemma") else [1, 1]


def _keys(tree: object) -> object:
    if isinstance(tree, dict):
        return {k: _keys(v) for k, v in tree.items()}
    return type(tree).__name__ if isinstance(tree, (str, bool)) else "number"


# ---------------------------------------------------------------------------------------------- presets


@pytest.mark.parametrize("family", ALL)
def test_tiny_param_count_in_range(backbones, family: str) -> None:
    counts = count_parameters(_get(backbones, family))
    assert 1_000_000 <= counts["total"] <= 20_000_000
    assert counts["trainable"] == counts["total"]


@pytest.mark.parametrize("family", ALL)
def test_large_preset_has_tiny_keys_and_builds_its_config(family: str) -> None:
    tiny, large = PRESETS[family]["tiny"], PRESETS[family]["large"]
    assert _keys(tiny) == _keys(large)
    assert tiny != large
    config = preset_config(family, "large")  # config object only: never instantiate the weights
    text = config.get_text_config()
    assert text.hidden_size == large["text"]["hidden_size"] >= 576
    assert text.num_hidden_layers == large["text"]["num_hidden_layers"] >= 16
    assert text.vocab_size == large["text"]["vocab_size"] > 40_000


@pytest.mark.parametrize("preset", ["tiny", "large"])
@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_qwen_mrope_sections_cover_half_the_head_dim(family: str, preset: str) -> None:
    text = preset_config(family, preset).text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2


@pytest.mark.parametrize("family", ALL)
def test_tiny_preset_token_ids_are_the_tokenizer_ids(family: str) -> None:
    tok = build_tokenizer(family=family, vocab_size=PRESETS[family]["tiny"]["text"]["vocab_size"])
    text, model = PRESETS[family]["tiny"]["text"], PRESETS[family]["tiny"].get("model", {})
    assert text["pad_token_id"] == tok.pad_token_id
    image = FAMILY_TOKENS[family].named.get("image_token")
    if image is not None and FAMILIES[family].kind != "text":
        key = "image_token_index" if family == "paligemma" else "image_token_id"
        assert model[key] == tok.convert_tokens_to_ids(image) == tok.image_token_id
    assert len(tok) <= text["vocab_size"]


def test_tokenizer_is_deterministic_and_keeps_special_tokens_whole() -> None:
    a, b = build_tokenizer(family="qwen2_5_vl"), build_tokenizer(family="qwen2_5_vl")
    assert a.get_vocab() == b.get_vocab()
    ids = a("<|im_start|>user\n<|image_pad|>pick up", add_special_tokens=False).input_ids
    assert ids[0] == a.convert_tokens_to_ids("<|im_start|>") and a.image_token_id in ids
    assert a.decode(ids) == "<|im_start|>user\n<|image_pad|>pick up"
    assert len(build_tokenizer(kind="byte", family="llama")) == 256 + len(FAMILY_TOKENS["llama"].tokens)
    with pytest.raises(ValueError, match="vocab_size"):
        build_tokenizer(vocab_size=100)


# ---------------------------------------------------------------------------------------------- forward


@pytest.mark.parametrize("family", ALL)
def test_prepare_and_forward_shapes(backbones, family: str) -> None:
    bb = _get(backbones, family)
    texts, images = _rows(bb, [1, 1] if family != "qwen2_5_vl" else [2, 1])
    inputs = bb.prepare(texts, images)
    batch, width = inputs.input_ids.shape
    assert batch == 2 and inputs.lengths[0] != inputs.lengths[1] and width == int(inputs.lengths.max())
    cols = torch.arange(width).unsqueeze(0)
    assert torch.equal(inputs.attention_mask, (cols < inputs.lengths.unsqueeze(1)).long())
    assert (inputs.input_ids[inputs.attention_mask == 0] == bb.pad_token_id).all()  # right padded
    if bb.processor is not None:
        image_id = bb.tokenizer.image_token_id
        per_row = (inputs.input_ids == image_id).sum(1)
        assert per_row[0] > 0 and per_row[1] > 0
        assert "pixel_values" in inputs.model_kwargs
    with torch.no_grad():
        out = bb(inputs)
    assert out.hidden.shape == (2, width, bb.hidden_size)
    assert out.logits is not None and out.logits.shape == (2, width, bb.vocab_size)
    assert torch.isfinite(out.hidden).all() and torch.isfinite(out.logits).all()
    with torch.no_grad():
        assert bb(inputs, output_logits=False).logits is None
    assert "torchvision" not in sys.modules


def test_torchvision_is_not_importable() -> None:
    assert importlib.util.find_spec("torchvision") is None
    with pytest.raises(ImportError):
        import torchvision  # noqa: F401


@pytest.mark.parametrize("family", VLMS)
def test_multiple_cameras_and_images_change_the_outputs(backbones, family: str) -> None:
    bb = _get(backbones, family)
    one, two = bb.prepare(TEXTS[:1], _images(1, [1])), bb.prepare(TEXTS[:1], _images(1, [2]))
    image_id = bb.tokenizer.image_token_id
    assert (two.input_ids == image_id).sum() == 2 * (one.input_ids == image_id).sum()
    other = bb.prepare(TEXTS[:1], _images(2, [1]))
    assert torch.equal(other.input_ids, one.input_ids)
    with torch.no_grad():
        a, b = bb(one), bb(other)
    last = int(one.lengths[0]) - 1
    assert (a.hidden[0, last] - b.hidden[0, last]).abs().max() > 1e-3


@pytest.mark.parametrize("with_suffix", [False, True], ids=["prompt", "suffix"])
@pytest.mark.parametrize("family", ALL)
def test_outputs_do_not_depend_on_padding(backbones, family: str, with_suffix: bool) -> None:
    bb = _get(backbones, family)
    cams = _cams(family)
    texts, images = _rows(bb, cams, seed=3)
    suffix = torch.tensor([[40, 41, 42], [43, 44, 45]]) if with_suffix else None
    with torch.no_grad():
        batch = bb(bb.prepare(texts, images), suffix_ids=suffix)
        for row in range(2):
            alone_in = bb.prepare(texts[row : row + 1], None if images is None else images[row : row + 1])
            alone = bb(alone_in, suffix_ids=None if suffix is None else suffix[row : row + 1])
            n = int(alone_in.lengths[0]) + (3 if with_suffix else 0)
            assert int(batch.lengths[row]) == int(alone_in.lengths[0])
            torch.testing.assert_close(batch.hidden[row, :n], alone.hidden[0, :n], atol=1e-4, rtol=0)
            torch.testing.assert_close(batch.logits[row, :n], alone.logits[0, :n], atol=1e-4, rtol=0)
            assert int(batch.attention_mask[row].sum()) == n


@pytest.mark.parametrize("family", ALL)
def test_suffix_tokens_are_causal_and_their_logits_are_one_column_earlier(backbones, family: str) -> None:
    bb = _get(backbones, family)
    texts, images = _rows(bb, [1, 1])
    inputs = bb.prepare(texts, images)
    suffix = torch.tensor([[50, 51, 52, 53], [60, 61, 62, 63]])
    changed = suffix.clone()
    changed[:, 2] = 99
    with torch.no_grad():
        a, b, plain = bb(inputs, suffix_ids=suffix), bb(inputs, suffix_ids=changed), bb(inputs)
    pos = HFBackbone.positions_of_suffix(a)
    assert torch.equal(pos, inputs.lengths.unsqueeze(1) + torch.arange(4))
    assert torch.equal(torch.gather(a.attention_mask, 1, pos), torch.ones(2, 4, dtype=torch.long))
    for row in range(2):
        first = int(pos[row, 2])
        torch.testing.assert_close(a.hidden[row, :first], b.hidden[row, :first], atol=1e-6, rtol=0)
        assert (a.hidden[row, first] - b.hidden[row, first]).abs().max() > 1e-4
        assert torch.equal(a.logits[row, pos[row] - 1], HFBackbone.suffix_logits(a)[row])
        assert torch.equal(a.hidden[row, pos[row]], HFBackbone.suffix_hidden(a)[row])
    # the suffix does not change the prompt: pooled features and next-token logits match the plain pass
    torch.testing.assert_close(HFBackbone.pooled(a), HFBackbone.pooled(plain), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        HFBackbone.suffix_logits(a)[:, 0], HFBackbone.suffix_logits(plain, 1)[:, 0], atol=1e-5, rtol=0
    )
    logp = HFBackbone.suffix_log_probs(a, suffix)
    assert logp.shape == (2, 4) and (logp <= 0).all()
    expect = torch.log_softmax(HFBackbone.suffix_logits(a), -1).gather(-1, suffix[..., None])[..., 0]
    torch.testing.assert_close(logp, expect)


def test_pooled_is_the_mean_over_prompt_tokens(backbones) -> None:
    bb = _get(backbones, "qwen2")
    inputs = bb.prepare(TEXTS)
    with torch.no_grad():
        out = bb(inputs, suffix_ids=torch.tensor([[7, 8], [9, 10]]))
    pooled = HFBackbone.pooled(out)
    for row in range(2):
        n = int(inputs.lengths[row])
        torch.testing.assert_close(pooled[row], out.hidden[row, :n].mean(0))


def test_paligemma_prompt_is_bidirectional_and_qwen_is_causal(backbones) -> None:
    """PaliGemma keeps its prefix-LM mask: the first image token sees the text after it."""
    for family, sees_future in (("paligemma", True), ("qwen2_5_vl", False)):
        bb = _get(backbones, family)
        images = _images(0, [1])
        with torch.no_grad():
            a = bb(bb.prepare(["pick up the red block"], images))
            b = bb(bb.prepare(["open the drawer"], images))
        diff = (a.hidden[0, 0] - b.hidden[0, 0]).abs().max()  # column 0: an image token / <|im_start|>
        assert (diff > 1e-4) == sees_future, family


@pytest.mark.parametrize("family", ["qwen2", "qwen2_5_vl"])
def test_left_padding_tokenizers_are_realigned_to_the_right(backbones, family: str) -> None:
    bb = _get(backbones, family)
    texts, images = _rows(bb, [1, 1])
    right = bb.prepare(texts, images)
    bb.tokenizer.padding_side = "left"
    try:
        left = bb.prepare(texts, images)
    finally:
        bb.tokenizer.padding_side = "right"
    assert torch.equal(left.input_ids, right.input_ids) and torch.equal(left.lengths, right.lengths)
    for key, value in right.model_kwargs.items():
        assert torch.equal(left.model_kwargs[key], value), key


@pytest.mark.parametrize("family", ["qwen2_5_vl", "idefics3"])
def test_vlms_take_text_only_rows(backbones, family: str) -> None:
    bb = _get(backbones, family)
    with torch.no_grad():
        both = bb(bb.prepare(TEXTS, [_images(0, [1])[0], []]))
        alone = bb(bb.prepare(TEXTS[1:], [[]]))
    n = int(alone.lengths[0])
    assert (bb.prepare(TEXTS[1:], [[]]).input_ids == bb.tokenizer.image_token_id).sum() == 0
    torch.testing.assert_close(both.hidden[1, :n], alone.hidden[0, :n], atol=1e-4, rtol=0)


def test_image_size_and_overrides_change_the_model() -> None:
    torch.manual_seed(0)
    bb = HFBackbone.build("qwen2_5_vl", image_size=112, overrides={"text": {"num_hidden_layers": 3}})
    assert bb.processor.image_size == 112 and bb.model.config.text_config.num_hidden_layers == 3
    inputs = bb.prepare(TEXTS[:1], _images(0, [1]))
    assert (inputs.input_ids == bb.tokenizer.image_token_id).sum() == (112 // 28) ** 2
    with pytest.raises(ValueError, match="multiple"):
        HFBackbone.build("qwen2_5_vl", image_size=60)
    assert preset_config("llama", "tiny", text={"hidden_size": 64}).hidden_size == 64


def test_prepare_rejects_bad_inputs(backbones) -> None:
    bb = _get(backbones, "qwen3_vl")
    with pytest.raises(ValueError, match="image token"):
        bb(bb.prepare(TEXTS[:1], _images(0, [1])), suffix_ids=torch.tensor([[bb.tokenizer.image_token_id]]))
    with pytest.raises(ValueError, match="text LM"):
        _get(backbones, "llama").prepare(TEXTS[:1], _images(0, [1]))
    with pytest.raises(ValueError, match="uint8"):
        _get(backbones, "qwen2_vl").prepare(TEXTS[:1], [[np.zeros((8, 8, 3), np.float32)]])
    with pytest.raises(ValueError, match="at least one image"):
        _get(backbones, "paligemma").prepare(TEXTS[:1], [[]])


# ---------------------------------------------------------------------------------------------- save / load


def _same_outputs(a: HFBackbone, b: HFBackbone, inputs: BackboneInputs, suffix: torch.Tensor) -> None:
    with torch.no_grad():
        x, y = a(inputs, suffix_ids=suffix), b(inputs, suffix_ids=suffix)
    torch.testing.assert_close(x.hidden, y.hidden, atol=1e-6, rtol=0)
    torch.testing.assert_close(x.logits, y.logits, atol=1e-6, rtol=0)


@pytest.mark.parametrize("family", ALL)
def test_save_and_load_round_trip(backbones, family: str, tmp_path: Path) -> None:
    bb = _get(backbones, family)
    bb.save_pretrained(tmp_path)
    loaded = HFBackbone.from_pretrained(tmp_path).eval()
    assert loaded.family == family and type(loaded.model) is type(bb.model)
    assert loaded.tokenizer.get_vocab() == bb.tokenizer.get_vocab()
    assert loaded.tokenizer.pad_token == bb.tokenizer.pad_token
    if bb.processor is not None:
        assert type(loaded.processor) is type(bb.processor)
        assert loaded.processor.image_size == bb.processor.image_size
        assert type(loaded.processor.image_processor) is type(bb.processor.image_processor)
    texts, images = _rows(bb, _cams(family), seed=5)
    inputs, again = bb.prepare(texts, images), loaded.prepare(texts, images)
    assert torch.equal(inputs.input_ids, again.input_ids)
    for key, value in inputs.model_kwargs.items():
        assert torch.equal(value, again.model_kwargs[key]), key
    _same_outputs(bb, loaded, inputs, torch.tensor([[503, 504], [505, 506]]))
    # without backbone.json the family comes from config.model_type
    (tmp_path / BACKBONE_JSON).unlink()
    assert HFBackbone.from_pretrained(tmp_path).family == family


@pytest.mark.parametrize("name", ["Qwen/Qwen2.5-VL-3B-Instruct", "google/paligemma-3b-pt-224", "no/such/dir"])
def test_from_pretrained_refuses_non_local_names(name: str) -> None:
    with pytest.raises(NotALocalDirectory) as err:
        HFBackbone.from_pretrained(name)
    assert str(err.value) == (
        f"'{name}' is not a local directory; embodied-rl never downloads models: "
        "download/copy the checkpoint yourself and pass its path"
    )


def test_unknown_family_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="known"):
        HFBackbone.build("gpt2")


# ---------------------------------------------------------------------------------------------- LoRA


@pytest.mark.parametrize("family", ["qwen2_5_vl", "paligemma", "smolvlm", "llama"])
def test_lora_trains_only_adapters_and_round_trips(family: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    bb = HFBackbone.build(family)
    before = count_parameters(bb)
    bb.apply_lora(r=4, alpha=8)
    after = count_parameters(bb)
    trainable = [n for n, p in bb.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("vision" in n or "visual" in n for n in trainable)
    assert after["total"] > before["total"] and 0 < after["trainable"] < 0.1 * after["total"]
    assert len(trainable) == 2 * 7 * 2  # A and B for 7 projections in 2 layers

    texts, images = _rows(bb, [1, 1])
    inputs = bb.prepare(texts, images)
    suffix = torch.tensor([[11, 12], [13, 14]])
    bb.train()
    loss = -HFBackbone.suffix_log_probs(bb(inputs, suffix_ids=suffix), suffix).mean()
    loss.backward()
    grads = {n: p.grad for n, p in bb.named_parameters() if p.requires_grad}
    assert all(g is not None for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    assert all(p.grad is None for p in bb.parameters() if not p.requires_grad)
    torch.optim.SGD([p for p in bb.parameters() if p.requires_grad], lr=1.0).step()
    bb.eval()

    bb.save_pretrained(tmp_path)
    loaded = HFBackbone.from_pretrained(tmp_path).eval()
    assert loaded.lora == bb.lora
    assert count_parameters(loaded) == count_parameters(bb)
    _same_outputs(bb, loaded, inputs, suffix)
    plain = HFBackbone.from_pretrained(tmp_path, family=family)
    assert plain.lora is not None  # backbone.json wins: the adapters come back


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        bb = HFBackbone.build("qwen2_5_vl")
        assert not bb.gradient_checkpointing
        if checkpointing:
            bb.enable_gradient_checkpointing()
            assert bb.gradient_checkpointing
        bb.train()
        inputs = bb.prepare(TEXTS, _images(0, [1, 1]))
        HFBackbone.pooled(bb(inputs, output_logits=False)).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in bb.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)
