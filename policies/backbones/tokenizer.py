"""Offline tokenizers and prompt formats for the transformers backbones.

:func:`build_tokenizer` trains a small byte-level BPE in memory (about a second, no download) on
a built-in corpus of robot and web instructions, puts the family's special tokens first (so their
ids are fixed: the ``tiny`` presets hard-code them), and wraps it as a
``PreTrainedTokenizerFast``. Real checkpoints bring their own tokenizer; only the special token
strings and the :class:`PromptFormat` below must match theirs, and they do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

CORPUS = """
pick up the red block and place it in the blue bowl. push the green cube to the left of the table.
open the top drawer of the cabinet and put the black bowl inside. close the microwave door.
turn on the stove and put the moka pot on it. stack the yellow block on top of the red block.
put both the alphabet soup and the tomato sauce in the basket. lift the cup and move it forward.
grasp the handle, pull the drawer open, then release the gripper. rotate the gripper by ninety degrees.
move the arm up, move the arm down, move the end effector to the right. slide the plate toward the robot.
insert the peg into the hole. hang the mug on the rack. wipe the table with the sponge.
pour the water from the bottle into the glass. fold the towel in half. reach the target position.
the robot sees a kitchen with a sink, a counter, two bowls, a plate, a spoon and a wooden cutting board.
navigate to the door, avoid the chair, stop in front of the shelf and pick the book on the second row.
click the search button on the web page. type the product name into the search box and press enter.
scroll down to the reviews section. select the cheapest item and add it to the cart.
go back to the previous page. open the settings menu and enable dark mode. fill in the email field.
sort the results by price from low to high. filter by rating of four stars and above.
answer with the action only. the next action is: left, right, forward, backward, grasp, release.
observation: the gripper is open and the object is on the table. action tokens follow the prompt.
what should the robot do next to complete the task? describe the scene in one short sentence.
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 20 32 64 100 128 255 256 512 1000 -1 -0.5 0.25 0.5 1.0
""".strip()


@dataclass(frozen=True)
class PromptFormat:
    """How one row's prompt is written for a family.

    ``prompt = user_start + image * n_cameras + text + user_end + assistant_start``. Processors
    expand each ``image`` placeholder into the right number of image tokens.

    Attributes:
        user_start: Text opening the user turn.
        image: Placeholder written once per camera (empty for text LMs).
        user_end: Text closing the user turn.
        assistant_start: Text opening the assistant turn (the model's answer follows it).
    """

    user_start: str
    image: str
    user_end: str
    assistant_start: str

    def render(self, text: str, num_images: int = 0) -> str:
        """The prompt of one row with ``num_images`` camera placeholders before ``text``."""
        if num_images and not self.image:
            raise ValueError("this family takes no images")
        return self.user_start + self.image * num_images + text + self.user_end + self.assistant_start


@dataclass(frozen=True)
class SpecialTokens:
    """A family's special tokens, in the order they get ids ``0, 1, ...`` in :func:`build_tokenizer`.

    Attributes:
        tokens: All special tokens (ids = positions).
        bos: Beginning-of-sequence token (None: the family adds none).
        eos: End-of-turn token.
        pad: Padding token.
        named: Attribute name -> token, set on the tokenizer (``tokenizer.image_token`` ...).
    """

    tokens: tuple[str, ...]
    bos: str | None
    eos: str
    pad: str
    named: Mapping[str, str] = field(default_factory=dict)


_QWEN = SpecialTokens(
    tokens=(
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ),
    bos=None,
    eos="<|im_end|>",
    pad="<|endoftext|>",
    named={
        "image_token": "<|image_pad|>",
        "video_token": "<|video_pad|>",
        "vision_start_token": "<|vision_start|>",
        "vision_end_token": "<|vision_end|>",
    },
)
_PALIGEMMA = SpecialTokens(
    tokens=("<pad>", "<eos>", "<bos>", "<unk>", "<image>")
    + tuple(f"<loc{i:0>4}>" for i in range(1024))
    + tuple(f"<seg{i:0>3}>" for i in range(128)),
    bos="<bos>",
    eos="<eos>",
    pad="<pad>",
    named={"image_token": "<image>"},
)
_IDEFICS3 = SpecialTokens(
    tokens=(
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<end_of_utterance>",
        "<fake_token_around_image>",
        "<image>",
        "<global-img>",
    )
    + tuple(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
    bos="<|im_start|>",
    eos="<end_of_utterance>",
    pad="<|im_end|>",
    named={"image_token": "<image>"},
)
_LLAMA = SpecialTokens(
    tokens=(
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ),
    bos="<|begin_of_text|>",
    eos="<|eot_id|>",
    pad="<|finetune_right_pad_id|>",
)

_QWEN_VL_FORMAT = PromptFormat(
    "<|im_start|>user\n",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<|im_end|>\n",
    "<|im_start|>assistant\n",
)
# The PaliGemma processor writes ``<bos>`` after the last image and ``\n`` after the text itself.
_PALIGEMMA_FORMAT = PromptFormat("", "<image>", "", "")
_IDEFICS3_FORMAT = PromptFormat("<|im_start|>User:", "<image>", "<end_of_utterance>\n", "Assistant:")
_QWEN_TEXT_FORMAT = PromptFormat("<|im_start|>user\n", "", "<|im_end|>\n", "<|im_start|>assistant\n")
_LLAMA_FORMAT = PromptFormat(
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
    "",
    "<|eot_id|>",
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
)

FAMILY_TOKENS: dict[str, SpecialTokens] = {
    "qwen2_5_vl": _QWEN,
    "qwen2_vl": _QWEN,
    "qwen3_vl": _QWEN,
    "paligemma": _PALIGEMMA,
    "idefics3": _IDEFICS3,
    "smolvlm": _IDEFICS3,
    "qwen2": _QWEN,
    "llama": _LLAMA,
}
PROMPT_FORMATS: dict[str, PromptFormat] = {
    "qwen2_5_vl": _QWEN_VL_FORMAT,
    "qwen2_vl": _QWEN_VL_FORMAT,
    "qwen3_vl": _QWEN_VL_FORMAT,
    "paligemma": _PALIGEMMA_FORMAT,
    "idefics3": _IDEFICS3_FORMAT,
    "smolvlm": _IDEFICS3_FORMAT,
    "qwen2": _QWEN_TEXT_FORMAT,
    "llama": _LLAMA_FORMAT,
}


def chat_template(fmt: PromptFormat) -> str:
    """A minimal Jinja chat template writing user/assistant turns in ``fmt``'s markers.

    String contents and ``{"type": "image"}`` / ``{"type": "text"}`` content lists are both
    accepted; each image item becomes ``fmt.image``.
    """
    image = fmt.image.replace("'", "\\'").replace("\n", "\\n")
    us, ue = (s.replace("'", "\\'").replace("\n", "\\n") for s in (fmt.user_start, fmt.user_end))
    asst = fmt.assistant_start.replace("'", "\\'").replace("\n", "\\n")
    return (
        "{% for m in messages %}"
        "{% if m['role'] == 'user' %}{{ '" + us + "' }}{% else %}{{ '" + asst + "' }}{% endif %}"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}{{ '" + image + "' }}"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{% if m['role'] == 'user' %}{{ '" + ue + "' }}{% else %}{{ eos_token }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '" + asst + "' }}{% endif %}"
    )


def build_tokenizer(
    kind: str = "bpe",
    vocab_size: int = 1024,
    corpus: Iterable[str] | None = None,
    extra_special_tokens: Sequence[str] | None = None,
    family: str = "qwen2_5_vl",
) -> PreTrainedTokenizerFast:
    """Builds an offline tokenizer with a family's special tokens.

    Deterministic: the same arguments give the same vocabulary on every call.

    Args:
        kind: ``bpe`` (byte-level BPE trained on ``corpus``) or ``byte`` (the 256 byte symbols,
            no merges).
        vocab_size: Upper bound on the vocabulary, special tokens included (a small corpus may
            stop the BPE earlier).
        corpus: Training text; the built-in :data:`CORPUS` of robot / web instructions if None.
        extra_special_tokens: More special tokens, appended after the family's ones.
        family: Whose special tokens, pad/eos/bos and chat template to use.

    Returns:
        A ``PreTrainedTokenizerFast`` with ``pad_token``, ``eos_token``, the family's named tokens
        (``image_token`` ...) and a chat template.
    """
    if family not in FAMILY_TOKENS:
        raise KeyError(f"unknown backbone family {family!r}; known: {sorted(FAMILY_TOKENS)}")
    special = FAMILY_TOKENS[family]
    tokens = list(dict.fromkeys([*special.tokens, *(extra_special_tokens or ())]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if kind == "bpe":
        size = vocab_size
        texts = list(corpus) if corpus is not None else CORPUS.splitlines()
    elif kind == "byte":
        size, texts = len(tokens) + len(alphabet), []
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; use 'bpe' or 'byte'")
    if size < len(tokens) + len(alphabet):
        raise ValueError(f"vocab_size={vocab_size} is below {len(tokens)} special tokens + 256 bytes")
    trainer = trainers.BpeTrainer(
        vocab_size=size, special_tokens=tokens, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    kwargs = {"eos_token": special.eos, "pad_token": special.pad}
    if special.bos is not None:
        kwargs["bos_token"] = special.bos
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, extra_special_tokens=dict(special.named), **kwargs)
    hf.chat_template = chat_template(PROMPT_FORMATS[family])
    return hf
