"""The text protocol of the tool envs: parse_turn, ToolFormat, format_call, validate_arguments.

Pure parser tests (no env): every valid and invalid turn kind with its exact message, and
adversarial inputs that must be answered quickly and never raise.
"""

from __future__ import annotations

import json
import time

import pytest
from embodied_rl.envs.tools.builtin import CalculatorTool
from embodied_rl.envs.tools.protocol import ToolFormat, Turn, format_call, parse_turn, validate_arguments

FMT = ToolFormat()
SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 16},
        "top_k": {"type": "integer"},
    },
    "required": ["query"],
    "additionalProperties": False,
}
TOOLS = {"calculator": CalculatorTool.parameters, "search": SEARCH_SCHEMA}


def parse(text: str, **kwargs) -> Turn:
    return parse_turn(text, FMT, TOOLS, **kwargs)


def call(body: str) -> str:
    return f"<tool_call>{body}</tool_call>"


def invalid(text: str, **kwargs) -> str:
    """The error of a turn that must be invalid."""
    turn = parse(text, **kwargs)
    assert turn.kind == "invalid" and not turn.valid, turn
    assert turn.answer is None and isinstance(turn.error, str) and turn.error
    return turn.error


# ---- valid turns ----------------------------------------------------------------------------


def test_valid_call_with_free_text_around() -> None:
    text = 'Let me compute.\n<tool_call> {"name": "calculator", "arguments": {"expression": "12 * 7"}}\n</tool_call> ok'
    turn = parse(text)
    assert turn == Turn("call", tool="calculator", arguments={"expression": "12 * 7"})
    assert turn.valid


def test_call_without_arguments_key_uses_empty_arguments() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    turn = parse_turn(call('{"name": "noargs"}'), FMT, {"noargs": schema})
    assert turn == Turn("call", tool="noargs", arguments={})


def test_valid_answer_is_stripped() -> None:
    assert parse("I think so.\n<answer>  84 \n</answer>\nDone.") == Turn("answer", answer="84")
    assert parse("<answer>the Brask River</answer>").answer == "the Brask River"


def test_custom_tags() -> None:
    fmt = ToolFormat(call_open="<fn>", call_close="</fn>", answer_open="<final>", answer_close="</final>")
    body = '{"name": "calculator", "arguments": {"expression": "1+1"}}'
    assert parse_turn(f"<fn>{body}</fn>", fmt, TOOLS) == Turn(
        "call", tool="calculator", arguments={"expression": "1+1"}
    )
    assert parse_turn("<final>2</final>", fmt, TOOLS) == Turn("answer", answer="2")
    # The default tags are plain text under the custom format.
    turn = parse_turn(f"<tool_call>{body}</tool_call> <answer>2</answer>", fmt, TOOLS)
    assert turn.kind == "invalid" and turn.error == "no <fn>...</fn> or <final>...</final> found"
    # ... and may appear as free text next to a real block.
    assert parse_turn("<answer>x</answer> <final>3</final>", fmt, TOOLS) == Turn("answer", answer="3")
    assert fmt.stop_strings == ("</fn>", "</final>")
    assert "<fn>" in fmt.rules() and "<final>" in fmt.rules() and "<tool_call>" not in fmt.rules()


@pytest.mark.parametrize(
    "tags",
    [
        {"call_open": ""},
        {"answer_close": ""},
        {"call_open": "<x>", "answer_open": "<x>"},
        {"call_close": "</answer>"},
        {"call_open": "</tool_call>"},
    ],
)
def test_tool_format_rejects_empty_or_duplicate_tags(tags: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="tool format tags must be non-empty and distinct, got"):
        ToolFormat(**tags)


def test_format_call_round_trips() -> None:
    for name, arguments in [
        ("calculator", {"expression": "2**10 / 6"}),
        ("search", {"query": 'ä "q" \\ </x>', "top_k": 2}),
        ("search", {"query": "line\nbreak\x00"}),
    ]:
        text = format_call(FMT, name, arguments)
        assert text.startswith("<tool_call>") and text.endswith("</tool_call>")
        assert parse(text) == Turn("call", tool=name, arguments=arguments)
    fmt = ToolFormat(call_open="[[", call_close="]]")
    text = format_call(fmt, "calculator", {"expression": "1"})
    assert text == '[[{"name": "calculator", "arguments": {"expression": "1"}}]]'
    assert parse_turn(text, fmt, TOOLS) == Turn("call", tool="calculator", arguments={"expression": "1"})


# ---- invalid turns: the block structure -----------------------------------------------------

GOOD = '{"name": "calculator", "arguments": {"expression": "1"}}'

STRUCTURE_ERRORS = {
    "no block": ("I am not sure.", "no <tool_call>...</tool_call> or <answer>...</answer> found"),
    "empty turn": ("", "no <tool_call>...</tool_call> or <answer>...</answer> found"),
    "unclosed call": (f"<tool_call>{GOOD}", "<tool_call> is not closed with </tool_call>"),
    "unclosed answer": ("<answer>42", "<answer> is not closed with </answer>"),
    "close before open": (f"</tool_call>{GOOD}<tool_call>", "</tool_call> comes before <tool_call>"),
    "answer close before open": ("</answer> 4 <answer>", "</answer> comes before <answer>"),
    "close without open": ("</tool_call>", "</tool_call> without <tool_call>"),
    "short text then close": ("x</answer>", "</answer> without <answer>"),
    "two calls": (
        call(GOOD) + "\n" + call(GOOD),
        "2 <tool_call> blocks in one turn; write exactly one tool call per turn",
    ),
    "three calls": (call(GOOD) * 3, "3 <tool_call> blocks in one turn; write exactly one tool call per turn"),
    "nested calls": (
        f"<tool_call><tool_call>{GOOD}</tool_call></tool_call>",
        "nested <tool_call> tags: close each tool call before opening another",
    ),
    "second open unclosed": (
        f"<tool_call>{GOOD}<tool_call>",
        "nested <tool_call> tags: close each tool call before opening another",
    ),
    "extra close": (
        call(GOOD) + "</tool_call>",
        "2 </tool_call> tags in one turn; write exactly one tool call per turn",
    ),
    "two answers": (
        "<answer>1</answer><answer>2</answer>",
        "2 <answer> blocks in one turn; write exactly one answer per turn",
    ),
    "nested answers": (
        "<answer><answer>1</answer></answer>",
        "nested <answer> tags: close each answer before opening another",
    ),
    "call and answer": (
        call(GOOD) + "<answer>1</answer>",
        "a turn is either one tool call or one answer, not both",
    ),
    "call and stray answer tag": (
        call(GOOD) + " </answer>",
        "a turn is either one tool call or one answer, not both",
    ),
    "empty answer": ("<answer> \n\t </answer>", "the answer is empty"),
    "answer with nothing": ("<answer></answer>", "the answer is empty"),
    "empty call": (
        "<tool_call></tool_call>",
        "malformed JSON in the tool call: Expecting value: line 1 column 1",
    ),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE_ERRORS))
def test_invalid_structure(case: str) -> None:
    text, error = STRUCTURE_ERRORS[case]
    assert invalid(text) == error
    assert parse(text).tool is None and parse(text).arguments is None


# ---- invalid turns: the call's JSON ---------------------------------------------------------

CALL_ERRORS = {
    "trailing comma": (
        '{"name": "calculator",}',
        "malformed JSON in the tool call: Expecting property name enclosed in double quotes: line 1 column 23",
    ),
    "single quotes": (
        "{'name': 'calculator'}",
        "malformed JSON in the tool call: Expecting property name enclosed in double quotes: line 1 column 2",
    ),
    "second line": (
        '{"name": "calculator",\n "arguments": {"expression": "1"}',
        "malformed JSON in the tool call: Expecting ',' delimiter: line 2 column 34",
    ),
    "trailing data": (GOOD + " x", "malformed JSON in the tool call: Extra data: line 1 column 58"),
    "not json": ("calculator(1+1)", "malformed JSON in the tool call: Expecting value: line 1 column 1"),
    "list": (
        '["calculator", {"expression": "1"}]',
        'the tool call must be a JSON object {"name": ..., "arguments": {...}}, got list',
    ),
    "string": (
        '"calculator"',
        'the tool call must be a JSON object {"name": ..., "arguments": {...}}, got str',
    ),
    "number": ("12", 'the tool call must be a JSON object {"name": ..., "arguments": {...}}, got int'),
    "null": ("null", 'the tool call must be a JSON object {"name": ..., "arguments": {...}}, got NoneType'),
    "extra keys": (
        '{"name": "calculator", "arguments": {}, "id": 1, "args": {}}',
        "unexpected keys in the tool call: ['args', 'id']; only 'name' and 'arguments'",
    ),
    "tool key instead of name": (
        '{"tool": "calculator"}',
        "unexpected keys in the tool call: ['tool']; only 'name' and 'arguments'",
    ),
    "missing name": ('{"arguments": {"expression": "1"}}', "the tool call needs a string 'name'"),
    "int name": ('{"name": 5, "arguments": {}}', "the tool call needs a string 'name'"),
    "list name": ('{"name": ["calculator"], "arguments": {}}', "the tool call needs a string 'name'"),
    "null name": ('{"name": null}', "the tool call needs a string 'name'"),
}


@pytest.mark.parametrize("case", sorted(CALL_ERRORS))
def test_invalid_call_json(case: str) -> None:
    body, error = CALL_ERRORS[case]
    assert invalid(call(body)) == error


def test_call_over_max_call_chars() -> None:
    body = json.dumps({"name": "calculator", "arguments": {"expression": "1+" * 100 + "1"}})
    assert len(body) == 256
    assert parse(call(body), max_call_chars=256).kind == "call"
    assert invalid(call(body), max_call_chars=255) == "the tool call is 256 characters; the limit is 255"
    # The limit is on the stripped body: surrounding whitespace does not count.
    assert parse(call("\n  " + body + "  \n"), max_call_chars=256).kind == "call"
    # Checked before the JSON is parsed.
    assert invalid(call("x" * 3000)) == "the tool call is 3000 characters; the limit is 2048"


def test_unknown_tool_lists_the_available_tools() -> None:
    turn = parse(call('{"name": "python", "arguments": {"code": "print(1)"}}'))
    assert turn.kind == "invalid" and turn.tool == "python" and turn.arguments is None
    assert turn.error == "unknown tool 'python'; available: calculator, search"
    assert invalid(call('{"name": "Calculator", "arguments": {}}')).startswith("unknown tool 'Calculator'")


def test_unknown_tool_with_a_huge_name_is_cut_in_the_message() -> None:
    name = "n" * 10_000
    turn = parse(call(json.dumps({"name": name, "arguments": {}})), max_call_chars=20_000)
    assert turn.kind == "invalid" and turn.tool == name
    assert turn.error == f"unknown tool {'n' * 50!r}; available: calculator, search"


@pytest.mark.parametrize(
    ("arguments", "kind"),
    [("[1, 2]", "list"), ('"1+1"', "str"), ("null", "NoneType"), ("7", "int"), ("true", "bool")],
)
def test_arguments_must_be_an_object(arguments: str, kind: str) -> None:
    turn = parse(call(f'{{"name": "calculator", "arguments": {arguments}}}'))
    assert turn.kind == "invalid" and turn.tool == "calculator"
    assert turn.error == f"'arguments' must be a JSON object, got {kind}"


SCHEMA_ERRORS = {
    "wrong type": (
        'calculator", "arguments": {"expression": 5}',
        "invalid arguments for calculator: at 'expression': 5 is not of type 'string'",
    ),
    "missing required": (
        'calculator", "arguments": {}',
        "invalid arguments for calculator: 'expression' is a required property",
    ),
    "no arguments key": (
        'calculator"',
        "invalid arguments for calculator: 'expression' is a required property",
    ),
    "additional property": (
        'calculator", "arguments": {"expression": "1", "precision": 3}',
        "invalid arguments for calculator: Additional properties are not allowed ('precision' was unexpected)",
    ),
    "max length": (
        'search", "arguments": {"query": "abcdefghijklmnopq"}',
        "invalid arguments for search: at 'query': 'abcdefghijklmnopq' is too long",
    ),
    "min length": (
        'search", "arguments": {"query": ""}',
        "invalid arguments for search: at 'query': '' should be non-empty",
    ),
    "integer type": (
        'search", "arguments": {"query": "a", "top_k": 1.5}',
        "invalid arguments for search: at 'top_k': 1.5 is not of type 'integer'",
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_ERRORS))
def test_schema_violations_name_the_argument(case: str) -> None:
    body, error = SCHEMA_ERRORS[case]
    turn = parse(call('{"name": "' + body + "}"))
    assert turn.kind == "invalid" and turn.error == error
    assert turn.tool == error.split()[3].rstrip(":")  # the tool name is kept on the invalid turn
    assert isinstance(turn.arguments, dict)


def test_validate_arguments_directly() -> None:
    schema = CalculatorTool.parameters
    assert validate_arguments(schema, {"expression": "1"}) is None
    assert validate_arguments(schema, {"expression": 5}) == "at 'expression': 5 is not of type 'string'"
    assert validate_arguments(schema, {}) == "'expression' is a required property"
    # Long messages are cut to 200 characters plus "...".
    message = validate_arguments(schema, {"expression": list(range(1000))})
    assert message.startswith("at 'expression': [0, 1, 2, ") and message.endswith("...")
    assert len(message) == len("at 'expression': ") + 203
    nested = {"type": "object", "properties": {"box": {"type": "array", "items": {"type": "number"}}}}
    assert validate_arguments(nested, {"box": [1, "x"]}) == "at 'box/1': 'x' is not of type 'number'"


# ---- adversarial input: fast, never raises ---------------------------------------------------


def timed_parse(text: str, **kwargs) -> Turn:
    start = time.perf_counter()
    turn = parse(text, **kwargs)
    assert time.perf_counter() - start < 1.0
    return turn


def test_one_megabyte_of_text() -> None:
    assert timed_parse("a" * 1_000_000).error == "no <tool_call>...</tool_call> or <answer>...</answer> found"
    assert timed_parse("<answer>" + "7" * 1_000_000 + "</answer>") == Turn("answer", answer="7" * 1_000_000)
    assert (
        timed_parse(call("x" * 1_000_000)).error == "the tool call is 1000000 characters; the limit is 2048"
    )
    many = "<tool_call>" * 200_000
    assert timed_parse(many).error == "nested <tool_call> tags: close each tool call before opening another"
    assert timed_parse("</answer>" * 100_000).error == (
        "100000 </answer> tags in one turn; write exactly one answer per turn"
    )


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
    ],
)
def test_deeply_nested_json(body: str) -> None:
    turn = timed_parse(call(body), max_call_chars=1_000_000)
    assert turn.kind == "invalid" and turn.error == "malformed JSON in the tool call: nested too deeply"


def test_deeply_nested_arguments_within_the_recursion_limit() -> None:
    deep = '{"a": ' * 500 + "1" + "}" * 500
    turn = timed_parse(
        call('{"name": "calculator", "arguments": {"expression": ' + deep + "}}"), max_call_chars=10_000
    )
    assert turn.kind == "invalid" and turn.tool == "calculator"
    assert turn.error.startswith("invalid arguments for calculator: at 'expression': {'a': {'a': ")
    assert turn.error.endswith("...")  # the repr of the value is cut at 200 characters
    assert len(turn.error) == len("invalid arguments for calculator: at 'expression': ") + 203


def test_unicode_control_characters_and_nul_bytes() -> None:
    expression = "1 + 1 \x00\x01\x1b[2J ☃ 漢字 \u202e \ufeff"
    text = "\x00\x07 prelude 🤖\n" + format_call(FMT, "calculator", {"expression": expression}) + "\x00"
    assert timed_parse(text) == Turn("call", tool="calculator", arguments={"expression": expression})
    # Raw control characters inside a JSON string are not allowed by JSON.
    error = timed_parse(call('{"name": "calculator", "arguments": {"expression": "\x00"}}')).error
    assert error.startswith("malformed JSON in the tool call: Invalid control character at")
    assert error.endswith(" line 1 column 53")  # the NUL's position
    assert timed_parse("<answer>\x00 漢字 \x00</answer>") == Turn("answer", answer="\x00 漢字 \x00")
    assert timed_parse("\x00" * 100_000).kind == "invalid"


def test_lone_surrogates() -> None:
    assert timed_parse("<answer>\ud800</answer>") == Turn("answer", answer="\ud800")
    # An escaped lone surrogate is valid JSON and reaches the tool as a string.
    turn = timed_parse(call('{"name": "calculator", "arguments": {"expression": "\\udfff"}}'))
    assert turn == Turn("call", tool="calculator", arguments={"expression": "\udfff"})
    # A raw lone surrogate in the name is an unknown tool, reported without raising.
    error = timed_parse(call('{"name": "\ud800x", "arguments": {}}')).error
    assert error == "unknown tool '\\ud800x'; available: calculator, search"
    assert timed_parse("\udc80" * 10_000 + "<tool_call>").kind == "invalid"


def test_close_tag_inside_a_json_string() -> None:
    # The tags are found by plain text search, JSON strings are not special: a close tag inside
    # the arguments is a second close tag, and the turn is invalid.
    body = json.dumps({"name": "calculator", "arguments": {"expression": "</tool_call>"}})
    assert invalid(call(body)) == "2 </tool_call> tags in one turn; write exactly one tool call per turn"
    # Without the real close tag, the one in the string ends the block: the JSON is cut.
    text = '<tool_call>{"name": "calculator", "arguments": {"expression": "a</tool_call>"}}'
    error = invalid(text)
    assert error.startswith("malformed JSON in the tool call: Unterminated string starting at")
    assert error.endswith(" line 1 column 52")  # the opening quote of "a
    # format_call does not escape tags either: its text of such a call is not parseable.
    assert parse(format_call(FMT, "calculator", {"expression": "<answer>"})).error == (
        "a turn is either one tool call or one answer, not both"
    )


def test_huge_integer_literal_in_a_call_under_the_default_limit() -> None:
    # Under the default max_call_chars a literal past Python's 4300-digit int limit cannot appear.
    body = '{"name": "calculator", "arguments": {"expression": 1' + "0" * 4400 + "}}"
    assert invalid(call(body)) == f"the tool call is {len(body)} characters; the limit is 2048"


def test_huge_integer_literal_with_a_large_call_limit_does_not_raise() -> None:
    body = '{"name": "calculator", "arguments": {"expression": 1' + "0" * 5000 + "}}"
    turn = parse(call(body), max_call_chars=10_000)
    assert turn.kind == "invalid" and turn.error.startswith("malformed JSON in the tool call")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("the answer is 42</answer>", "</answer> without <answer>"),
        (
            '0123456789{"name": "calculator", "arguments": {"expression": "1"}}</tool_call>',
            "</tool_call> without <tool_call>",
        ),
    ],
)
def test_close_tag_without_open_tag_after_long_text(text: str, error: str) -> None:
    assert invalid(text) == error
