"""The text protocol between a model and a tool env: how calls and answers are written and parsed.

A turn of the model is one of (tags configurable per env, :class:`ToolFormat`)::

    <tool_call>{"name": "calculator", "arguments": {"expression": "12 * 7"}}</tool_call>
    <answer>84</answer>

Free text before or after the block (reasoning) is allowed. Anything else is an **invalid
turn** with a precise message, shown to the model and counted: no block at all, a block that
is not closed, a close tag without an open tag, two blocks (or a call and an answer) in one
turn, a block nested in another, a call longer than ``max_call_chars``, JSON that does not
parse, JSON that is not ``{"name": str, "arguments": object}``, an unknown tool name, and
arguments that do not match the tool's JSON schema (checked with ``jsonschema``).

:func:`parse_turn` never raises on model output; it returns a :class:`Turn`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

__all__ = ["ToolFormat", "Turn", "format_call", "parse_turn", "validate_arguments"]


@dataclass(frozen=True)
class ToolFormat:
    """The tags of the protocol (configurable per env, e.g. ``<function_call>`` for another model)."""

    call_open: str = "<tool_call>"
    call_close: str = "</tool_call>"
    answer_open: str = "<answer>"
    answer_close: str = "</answer>"
    result_open: str = "<tool_result>"
    result_close: str = "</tool_result>"

    def __post_init__(self) -> None:
        tags = [self.call_open, self.call_close, self.answer_open, self.answer_close]
        tags += [self.result_open, self.result_close]
        if any(not t for t in tags) or len(set(tags)) != len(tags):
            raise ValueError(f"tool format tags must be non-empty and distinct, got {tags}")

    @property
    def stop_strings(self) -> tuple[str, str]:
        """Where a generation should stop: after a call or an answer is closed."""
        return (self.call_close, self.answer_close)

    def rules(self) -> str:
        """The format rules as shown to the model."""
        return (
            f'To call a tool write {self.call_open}{{"name": <tool name>, "arguments": {{...}}}}'
            f"{self.call_close}. The result comes back as {self.result_open}...{self.result_close}. "
            f"Write the final answer as {self.answer_open}...{self.answer_close}. "
            "One tool call or one answer per turn."
        )


@dataclass(frozen=True)
class Turn:
    """A parsed model turn.

    Attributes:
        kind: ``"call"``, ``"answer"`` or ``"invalid"``.
        tool: The tool name of a call (also set for an invalid call whose name was readable).
        arguments: The call's arguments.
        answer: The answer text (stripped).
        error: Why the turn is invalid (shown to the model).
    """

    kind: Literal["call", "answer", "invalid"]
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    answer: str | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.kind != "invalid"


def format_call(fmt: ToolFormat, name: str, arguments: Mapping[str, Any]) -> str:
    """The canonical text of a call (what scripted experts write)."""
    return f"{fmt.call_open}{json.dumps({'name': name, 'arguments': dict(arguments)})}{fmt.call_close}"


def validate_arguments(schema: Mapping[str, Any], arguments: Any) -> str | None:
    """None when ``arguments`` fit the JSON ``schema``, else one precise message.

    The message names where the first (most relevant, ``jsonschema.exceptions.best_match``)
    error is: ``"at 'expression': 5 is not of type 'string'"``.
    """
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return f"at '{where}': {message}" if where else message


def _block(text: str, open_tag: str, close_tag: str, what: str) -> tuple[str | None, str | None]:
    """``(inner, error)`` of the single ``open_tag ... close_tag`` block in ``text``."""
    opens, closes = text.count(open_tag), text.count(close_tag)
    if opens > 1:
        first = text.find(open_tag)
        second = text.find(open_tag, first + len(open_tag))
        first_close = text.find(close_tag, first)
        if first_close == -1 or second < first_close:
            return None, f"nested {open_tag} tags: close each {what} before opening another"
        return None, f"{opens} {open_tag} blocks in one turn; write exactly one {what} per turn"
    if closes > 1:
        return None, f"{closes} {close_tag} tags in one turn; write exactly one {what} per turn"
    start = text.find(open_tag)
    end = text.find(close_tag)
    if start == -1:
        return None, f"{close_tag} without {open_tag}"
    if end == -1:
        return None, f"{open_tag} is not closed with {close_tag}"
    if end < start + len(open_tag):
        return None, f"{close_tag} comes before {open_tag}"
    return text[start + len(open_tag) : end], None


def parse_turn(
    text: str,
    fmt: ToolFormat,
    tools: Mapping[str, Mapping[str, Any]],
    max_call_chars: int = 2048,
) -> Turn:
    """Parse one model turn against the format and the tools' schemas.

    Args:
        text: The model's output for this turn.
        fmt: The env's tags.
        tools: tool name -> JSON schema of its arguments.
        max_call_chars: Longest accepted call body (the JSON between the call tags).

    Returns:
        A :class:`Turn`; ``kind == "invalid"`` carries the error message.
    """
    has_call = fmt.call_open in text or fmt.call_close in text
    has_answer = fmt.answer_open in text or fmt.answer_close in text
    if has_call and has_answer:
        return Turn("invalid", error="a turn is either one tool call or one answer, not both")
    if not has_call and not has_answer:
        return Turn(
            "invalid",
            error=f"no {fmt.call_open}...{fmt.call_close} or {fmt.answer_open}...{fmt.answer_close} found",
        )
    if has_answer:
        inner, error = _block(text, fmt.answer_open, fmt.answer_close, "answer")
        if error is not None:
            return Turn("invalid", error=error)
        answer = inner.strip()  # type: ignore[union-attr]
        if not answer:
            return Turn("invalid", error="the answer is empty")
        return Turn("answer", answer=answer)

    inner, error = _block(text, fmt.call_open, fmt.call_close, "tool call")
    if error is not None:
        return Turn("invalid", error=error)
    body = inner.strip()  # type: ignore[union-attr]
    if len(body) > max_call_chars:
        return Turn(
            "invalid", error=f"the tool call is {len(body)} characters; the limit is {max_call_chars}"
        )
    try:
        call = json.loads(body)
    except json.JSONDecodeError as err:  # (before ValueError: it is one)
        return Turn(
            "invalid",
            error=f"malformed JSON in the tool call: {err.msg}: line {err.lineno} column {err.colno}",
        )
    except RecursionError:
        return Turn("invalid", error="malformed JSON in the tool call: nested too deeply")
    except ValueError as err:  # e.g. an integer literal longer than Python's int-string limit
        return Turn("invalid", error=f"malformed JSON in the tool call: {str(err)[:200]}")
    if not isinstance(call, dict):
        return Turn(
            "invalid",
            error=f'the tool call must be a JSON object {{"name": ..., "arguments": {{...}}}}, got {type(call).__name__}',
        )
    extra = sorted(set(call) - {"name", "arguments"})
    if extra:
        return Turn(
            "invalid", error=f"unexpected keys in the tool call: {extra}; only 'name' and 'arguments'"
        )
    name = call.get("name")
    if not isinstance(name, str):
        return Turn("invalid", error="the tool call needs a string 'name'")
    if name not in tools:
        return Turn(
            "invalid", tool=name, error=f"unknown tool {name[:50]!r}; available: {', '.join(sorted(tools))}"
        )
    arguments = call.get("arguments", {})
    if not isinstance(arguments, dict):
        return Turn(
            "invalid", tool=name, error=f"'arguments' must be a JSON object, got {type(arguments).__name__}"
        )
    problem = validate_arguments(tools[name], arguments)
    if problem is not None:
        return Turn(
            "invalid", tool=name, arguments=arguments, error=f"invalid arguments for {name}: {problem}"
        )
    return Turn("call", tool=name, arguments=arguments)
