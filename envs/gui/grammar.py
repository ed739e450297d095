"""The text action grammar of the GUI envs: how a model writes one action and how it is parsed.

A turn of the model is exactly one action, written like a function call::

    click(80, 95)                  click at the point x=80, y=95
    click_element(4)               click the element listed as [4] in the page's elements
    type("hello world")            type text into the focused element
    press("Enter")                 press a key, or a key combination such as "Control+a"
    scroll(80, 95, "down")         scroll at the point x=80, y=95, "up" or "down"
    done()                         the task is finished

**Coordinates.** With ``coords="pixels"`` (the default) ``x`` and ``y`` are screenshot pixels:
``x`` to the right from the left edge, ``y`` down from the top edge, ``0 <= x < width`` and
``0 <= y < height``. With ``coords="normalized"`` they are fractions of the screenshot in
``[0, 1]`` (``x=0`` the left edge, ``x=1`` the right edge); :func:`parse_action` converts them to
pixels (``x * width``, ``y * height``), so a parsed :class:`~embodied_rl.envs.gui.base.GuiAction`
always holds native pixels (``x=1`` becomes ``width``, one past the last pixel column, which a
backend checking ``x < width`` treats as off-screen). Numbers are plain decimals: ``80``, ``80.5``, ``.5``, ``-3`` (a
negative coordinate is then out of range); no exponents, no ``nan``/``inf``, ASCII digits only.

**Arguments.** Positional (``click(80, 95)``) or by keyword (``click(x=80, y=95)``), or positional
first and keywords after. The parameter names are ``x, y`` (``click``), ``ref``
(``click_element``), ``text`` (``type``), ``key`` (``press``), ``x, y, direction`` (``scroll``).
``ref`` is a non-negative integer. ``text``, ``key`` and ``direction`` are string literals.

**Strings.** In double or single quotes, with JSON-like escapes: ``\\"`` ``\\'`` ``\\\\``
``\\/`` ``\\n`` ``\\t`` ``\\r`` ``\\b`` ``\\f`` and ``\\uXXXX`` (4 hex digits; a surrogate pair
written as two ``\\u`` escapes is joined into one character). Any other character, a raw
newline included, stands for itself. ``type`` needs non-empty text.

**Keys.** ``press`` takes one of :data:`KEYS` (``Enter``, ``Tab``, ``Backspace``, ``Delete``,
``Escape``, ``Space``, ``ArrowUp``, ``ArrowDown``, ``ArrowLeft``, ``ArrowRight``, ``Home``,
``End``, ``PageUp``, ``PageDown``), a single printable character (``"a"``, ``"A"``, ``"+"``;
``" "`` is ``Space``), or a combination of :data:`MODIFIERS` (``Control``, ``Shift``, ``Alt``,
``Meta``) and one such key joined by ``+``: ``"Control+a"``, ``"Shift+Tab"``, ``"Control++"``.
Key and modifier names are matched case-insensitively, and a few aliases are understood
(``Esc``, ``Return``, ``Del``, ``Up``/``Down``/``Left``/``Right``, ``Ctrl``, ``Cmd``,
``Command``, ``Option``); the parsed key is the canonical spelling with the modifiers in the
order Control, Shift, Alt, Meta (``"shift+ctrl+A"`` -> ``"Control+Shift+A"``). ``scroll``
directions are ``"up"`` and ``"down"`` (any case).

**Layout.** Whitespace around the action and between tokens is allowed, and so is one ``;``
after the closing parenthesis. Any other text before or after the action is an error: one
action per turn, no prose around it.

**Errors.** :func:`parse_action` raises :class:`ActionParseError` for every string it does not
accept (and for a non-string), and never anything else; the message is meant to be shown to
the model (columns count from 1 at the first non-blank character). Texts longer than
``max_chars`` (default 512) are rejected before anything else is looked at, so adversarial
inputs are answered quickly. For example::

    click(250, 3)           x=250 is outside the screenshot (0 <= x < 160)
    click(3)                click takes 2 arguments (x, y), got 1
    clik(3, 4)              unknown action 'clik' (did you mean click?); the actions are ...
    click_element("abc")    click_element expects an integer ref, got "abc"
    type("hello             unterminated string starting at column 6; close it with "
    press("Entr")           unknown key 'Entr' (did you mean Enter?); use a key name ...
    done() click(3, 4)      unexpected text after the action: 'click(3, 4)'; write one action per turn

:func:`format_action` writes the canonical text of an action (what scripted experts write),
:func:`grammar_help` the short description for a model's prompt, and :func:`action_kind` reads
only the action name (for rewards on the action type, as in GUI-R1).
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import operator
import re
from dataclasses import dataclass

from embodied_rl.envs.gui.base import ACTION_KINDS, GuiAction

__all__ = [
    "COORD_MODES",
    "KEYS",
    "MODIFIERS",
    "ActionParseError",
    "action_kind",
    "format_action",
    "grammar_help",
    "parse_action",
]

COORD_MODES = ("pixels", "normalized")
"""How ``x`` and ``y`` are written: screenshot pixels, or fractions of the screenshot in [0, 1]."""

KEYS = (
    "Enter",
    "Tab",
    "Backspace",
    "Delete",
    "Escape",
    "Space",
    "ArrowUp",
    "ArrowDown",
    "ArrowLeft",
    "ArrowRight",
    "Home",
    "End",
    "PageUp",
    "PageDown",
)
"""The named keys ``press`` accepts (canonical spelling); single printable characters are keys too."""

MODIFIERS = ("Control", "Shift", "Alt", "Meta")
"""The modifiers of a key combination, in their canonical order (``Control+Shift+a``)."""

DIRECTIONS = ("up", "down")

_PARAMS: dict[str, tuple[str, ...]] = {
    "click": ("x", "y"),
    "click_element": ("ref",),
    "type": ("text",),
    "press": ("key",),
    "scroll": ("x", "y", "direction"),
    "done": (),
}
_USAGE = {
    "click": "click(x, y)",
    "click_element": "click_element(ref)",
    "type": 'type("text")',
    "press": 'press("key")',
    "scroll": 'scroll(x, y, "up"|"down")',
    "done": "done()",
}
_ACTION_LIST = ", ".join(_USAGE[kind] for kind in ACTION_KINDS)
_MAX_ARGS = 8  # more arguments than any action takes: stop reading
_MAX_REF_DIGITS = 18

_KEY_LOOKUP = {key.lower(): key for key in KEYS} | {
    "esc": "Escape",
    "return": "Enter",
    "del": "Delete",
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
}
_MODIFIER_LOOKUP = {mod.lower(): mod for mod in MODIFIERS} | {
    "ctrl": "Control",
    "cmd": "Meta",
    "command": "Meta",
    "option": "Alt",
}

_SPACE = re.compile(r"\s*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LEADING_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
_KEYWORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TOKEN = re.compile(r"[^\s,()\"']{1,41}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{0,3}")
_CALL = re.compile(
    r"(?<![A-Za-z0-9_])(?:" + "|".join(sorted(ACTION_KINDS, key=len, reverse=True)) + r")\s*\("
)
_CHUNK = {'"': re.compile(r'[^"\\]+'), "'": re.compile(r"[^'\\]+")}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_EXAMPLE = "e.g. click(80, 120) or done()"


class ActionParseError(ValueError):
    """A text that is not one valid action; the message says why and is shown to the model."""


@dataclass(frozen=True)
class _Value:
    """One argument value as written: ``kind`` is ``number``, ``string`` or ``word`` (bare name)."""

    kind: str
    value: str  # the number's text, the decoded string, or the word
    src: str  # the source text, cut for messages


@dataclass(frozen=True)
class _Arg:
    keyword: str | None
    value: _Value


# ---- public API ------------------------------------------------------------------------------


def parse_action(
    text: str, *, width: int, height: int, coords: str = "pixels", max_chars: int = 512
) -> GuiAction:
    """Parse one model turn into a :class:`~embodied_rl.envs.gui.base.GuiAction`.

    Args:
        text: The model's output for this turn.
        width, height: Native screenshot size in pixels (coordinates are checked against it).
        coords: One of :data:`COORD_MODES`.
        max_chars: Longest accepted text (checked first, on the raw text).

    Returns:
        The action, with ``x``/``y`` in native pixels.

    Raises:
        ActionParseError: ``text`` is not one valid action (the message is for the model).
        ValueError: ``width``, ``height`` or ``coords`` are invalid (a caller's mistake).
    """
    width, height = _check_screen(width, height, coords)
    if not isinstance(text, str):
        raise ActionParseError(f"the action must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ActionParseError(f"the action is {len(text)} characters; the limit is {max_chars}")
    s = text.strip()
    if not s:
        raise ActionParseError(f"empty action; write one action, {_EXAMPLE}")
    name, pos = _read_name(s)
    args, end = _read_arguments(s, name, pos)
    _check_rest(s, end)
    values = _bind(name, args)
    return _build(name, values, width, height, coords)


def format_action(action: GuiAction, *, width: int, height: int, coords: str = "pixels") -> str:
    """The canonical text of ``action`` (what scripted experts write).

    Pixels are written as integers when integral, else with up to 3 decimals; normalized
    coordinates as fractions with 4 decimals; strings as JSON strings.
    ``parse_action(format_action(a)) == a`` for pixel actions with integral coordinates.

    Raises:
        ValueError: the action lacks a field its kind needs, or is not a known kind.
    """
    width, height = _check_screen(width, height, coords)
    kind = action.kind
    if kind == "click":
        return f"click({_format_point(action, width, height, coords)})"
    if kind == "scroll":
        if action.direction not in DIRECTIONS:
            raise ValueError(f"scroll direction must be 'up' or 'down', got {action.direction!r}")
        return f'scroll({_format_point(action, width, height, coords)}, "{action.direction}")'
    if kind == "click_element":
        if isinstance(action.ref, bool) or not isinstance(action.ref, int) or action.ref < 0:
            raise ValueError(f"click_element needs a non-negative int ref, got {action.ref!r}")
        return f"click_element({action.ref})"
    if kind in ("type", "press"):
        value = action.text if kind == "type" else action.key
        if not isinstance(value, str) or not value:
            raise ValueError(f"{kind} needs a non-empty {'text' if kind == 'type' else 'key'}, got {value!r}")
        return f"{kind}({json.dumps(value, ensure_ascii=False)})"
    if kind == "done":
        return "done()"
    raise ValueError(f"unknown action kind {kind!r}; expected one of {ACTION_KINDS}")


def grammar_help(coords: str = "pixels", width: int | None = None, height: int | None = None) -> str:
    """The grammar in a few lines for a model's prompt (under 600 characters)."""
    if coords not in COORD_MODES:
        raise ValueError(f"coords must be one of {COORD_MODES}, got {coords!r}")
    sized = width is not None and height is not None
    if coords == "pixels":
        where = "screenshot pixels, x from the left edge, y down from the top"
        where += f" (0 <= x < {width}, 0 <= y < {height})" if sized else ""
    else:
        where = "fractions of the screenshot" + (f" ({width}x{height} pixels)" if sized else "")
        where += ": x from 0 (left edge) to 1 (right edge), y from 0 (top) to 1 (bottom)"
    return (
        "Answer with exactly one action:\n"
        "click(x, y) - click a point\n"
        "click_element(ref) - click the element listed as [ref]\n"
        'type("text") - type into the focused element\n'
        'press("key") - press Enter, Tab, Backspace, Escape, ArrowDown, ..., a character, '
        "or a combination like Control+a\n"
        'scroll(x, y, "up") or scroll(x, y, "down") - scroll at a point\n'
        "done() - the task is finished\n"
        f"Coordinates are {where}."
    )


def action_kind(text: str) -> str | None:
    """The action name ``text`` starts with if it is one of ``ACTION_KINDS``, else None; never raises."""
    if not isinstance(text, str):
        return None
    match = _LEADING_NAME.match(text)
    if match is None or match.group(1) not in _PARAMS:
        return None
    return match.group(1)


# ---- reading the text ------------------------------------------------------------------------


def _check_screen(width: int, height: int, coords: str) -> tuple[int, int]:
    if coords not in COORD_MODES:
        raise ValueError(f"coords must be one of {COORD_MODES}, got {coords!r}")
    sizes = []
    for label, size in (("width", width), ("height", height)):
        try:
            value = operator.index(size)
        except TypeError:
            value = 0
        if isinstance(size, bool) or value <= 0:
            raise ValueError(f"{label} must be a positive int, got {size!r}")
        sizes.append(value)
    return sizes[0], sizes[1]


def _excerpt(s: str, start: int = 0, limit: int = 40) -> str:
    """``s[start:]`` cut to ``limit`` characters (plus ``...``), in O(limit)."""
    part = s[start : start + limit + 1]
    return part if len(part) <= limit else part[:limit] + "..."


def _show(s: str) -> str:
    """``s`` for a message: as is when printable, else its repr (NULs, lone surrogates)."""
    return s if s.isprintable() else repr(s)


def _skip(s: str, pos: int) -> int:
    return _SPACE.match(s, pos).end()  # type: ignore[union-attr]


def _unknown_action(name: str) -> str:
    message = f"unknown action {_excerpt(name)!r}"
    close = difflib.get_close_matches(name[:40].lower(), ACTION_KINDS, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]}?)"
    return f"{message}; the actions are {_ACTION_LIST}"


def _read_name(s: str) -> tuple[str, int]:
    """The action name at the start of ``s`` and the position after its ``(``."""
    match = _IDENT.match(s)
    if match is not None:
        name = match.group()
        after = _skip(s, match.end())
        if s.startswith("(", after):
            if name in _PARAMS:
                return name, after + 1
            raise ActionParseError(_unknown_action(name))
    later = _CALL.search(s, 1)
    if later is not None:
        before = _excerpt(s[: later.start()])
        raise ActionParseError(
            f"unexpected text before the action: {before!r}; write only the action, {_EXAMPLE}"
        )
    if match is None:
        raise ActionParseError(
            f"expected an action name at the start, got {_excerpt(s)!r}; write one action, {_EXAMPLE}"
        )
    if match.group() in _PARAMS:
        raise ActionParseError(f"missing '(' after {match.group()}; write {_USAGE[match.group()]}")
    raise ActionParseError(_unknown_action(match.group()))


def _read_arguments(s: str, name: str, pos: int) -> tuple[list[_Arg], int]:
    """The arguments after ``name(`` and the position after the closing ``)``."""
    args: list[_Arg] = []
    pos = _skip(s, pos)
    if s.startswith(")", pos):
        return args, pos + 1
    while True:
        arg, pos = _read_argument(s, name, pos)
        args.append(arg)
        if len(args) > _MAX_ARGS:
            raise ActionParseError(f"{_takes(name)}, got more than {_MAX_ARGS}")
        pos = _skip(s, pos)
        char = s[pos : pos + 1]
        if char == ")":
            return args, pos + 1
        if char == ",":
            pos = _skip(s, pos + 1)
        elif not char:
            raise ActionParseError(f"missing ')': {name}( is not closed")
        else:
            raise ActionParseError(f"expected ',' or ')' at column {pos + 1}, got {_excerpt(s, pos)!r}")


def _read_argument(s: str, name: str, pos: int) -> tuple[_Arg, int]:
    keyword = None
    match = _KEYWORD.match(s, pos)
    if match is not None:
        keyword = match.group(1)
        pos = _skip(s, match.end())
    value, pos = _read_value(s, name, pos)
    return _Arg(keyword, value), pos


def _read_value(s: str, name: str, pos: int) -> tuple[_Value, int]:
    char = s[pos : pos + 1]
    if not char:
        raise ActionParseError(f"missing ')': {name}( is not closed")
    if char in "\"'":
        text, end = _read_string(s, pos)
        return _Value("string", text, _excerpt(s[pos:end])), end
    if char in "+-." or "0" <= char <= "9":
        return _read_number(s, pos)
    match = _IDENT.match(s, pos)
    if match is not None:
        return _Value("word", match.group(), _excerpt(match.group())), match.end()
    if char in ",)":
        raise ActionParseError(f"missing argument at column {pos + 1}")
    if char.isnumeric():
        raise ActionParseError(f"bad number {_token(s, pos)!r} at column {pos + 1}; use ASCII digits 0-9")
    raise ActionParseError(
        f"unexpected {char!r} at column {pos + 1}; arguments are numbers or quoted strings"
    )


def _token(s: str, pos: int) -> str:
    """The run of non-delimiter characters at ``pos``, cut for a message."""
    match = _TOKEN.match(s, pos)
    return _excerpt(match.group()) if match is not None else s[pos : pos + 1]


def _read_number(s: str, pos: int) -> tuple[_Value, int]:
    match = _NUMBER.match(s, pos)
    if match is None:
        word = _IDENT.match(s, pos + 1)
        if s[pos] in "+-" and word is not None:  # -inf, +nan, -x: a signed bare word
            text = s[pos] + word.group()
            return _Value("word", text, _excerpt(text)), word.end()
        raise ActionParseError(f"bad number {_token(s, pos)!r} at column {pos + 1}")
    after = s[match.end() : match.end() + 1]
    if after and (after.isalnum() or after in "._"):
        raise ActionParseError(
            f"bad number {_token(s, pos)!r} at column {pos + 1}; write plain decimals like 80 or 80.5"
        )
    return _Value("number", match.group(), _excerpt(match.group())), match.end()


def _read_string(s: str, pos: int) -> tuple[str, int]:
    """The decoded string literal starting at ``pos`` and the position after its closing quote."""
    quote, chunk = s[pos], _CHUNK[s[pos]]
    parts: list[str] = []
    i = pos + 1
    while True:
        match = chunk.match(s, i)
        if match is not None:
            parts.append(match.group())
            i = match.end()
        if i >= len(s) or (s[i] == "\\" and i + 1 >= len(s)):
            raise ActionParseError(f"unterminated string starting at column {pos + 1}; close it with {quote}")
        if s[i] == quote:
            return "".join(parts), i + 1
        char, i = _read_escape(s, i)
        parts.append(char)


def _read_escape(s: str, i: int) -> tuple[str, int]:
    """The character of the escape at ``s[i] == "\\"`` and the position after it."""
    code = s[i + 1]
    if code in _ESCAPES:
        return _ESCAPES[code], i + 2
    if code != "u":
        shown = f" \\{code}" if code.isprintable() else f": \\ followed by {code!r}"
        raise ActionParseError(
            f"bad escape{shown} at column {i + 1}; strings allow \\\" \\' \\\\ \\n \\t and \\uXXXX"
        )
    if not _HEX4.fullmatch(s, i + 2, i + 6):
        shown = _HEX_PREFIX.match(s, i + 2, i + 6).group()  # type: ignore[union-attr]
        raise ActionParseError(f"bad escape \\u{shown} at column {i + 1}; \\u needs 4 hex digits")
    value = int(s[i + 2 : i + 6], 16)
    if 0xD800 <= value < 0xDC00 and s.startswith("\\u", i + 6) and _HEX4.fullmatch(s, i + 8, i + 12):
        low = int(s[i + 8 : i + 12], 16)
        if 0xDC00 <= low < 0xE000:  # a surrogate pair, as JSON writes characters outside the BMP
            return chr(0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)), i + 12
    return chr(value), i + 6


def _check_rest(s: str, end: int) -> None:
    rest = s[end:].strip()
    if rest.startswith(";"):
        rest = rest[1:].strip()
    if rest:
        raise ActionParseError(
            f"unexpected text after the action: {_excerpt(rest)!r}; write one action per turn"
        )


# ---- checking the arguments ------------------------------------------------------------------


def _takes(name: str) -> str:
    params = _PARAMS[name]
    if not params:
        return f"{name} takes no arguments"
    noun = "argument" if len(params) == 1 else "arguments"
    return f"{name} takes {len(params)} {noun} ({', '.join(params)})"


def _bind(name: str, args: list[_Arg]) -> dict[str, _Value]:
    """Parameter name -> value, checking keywords and the argument count."""
    params = _PARAMS[name]
    if params:
        seen_keyword = False
        for arg in args:
            if arg.keyword is None and seen_keyword:
                raise ActionParseError(
                    f"positional argument after a keyword argument in {name}; write {_USAGE[name]}"
                )
            if arg.keyword is not None and arg.keyword not in params:
                raise ActionParseError(
                    f"{name} has no argument {arg.keyword!r}; its arguments are ({', '.join(params)})"
                )
            seen_keyword = seen_keyword or arg.keyword is not None
    if len(args) != len(params):
        raise ActionParseError(f"{_takes(name)}, got {len(args)}")
    bound: dict[str, _Value] = {}
    for param, arg in zip(params, args, strict=True):
        key = arg.keyword or param
        if key in bound:
            raise ActionParseError(f"{name} got argument {key!r} twice")
        bound[key] = arg.value
    return bound


def _build(name: str, values: dict[str, _Value], width: int, height: int, coords: str) -> GuiAction:
    if name in ("click", "scroll"):
        x = _coordinate(name, "x", values["x"], width, coords)
        y = _coordinate(name, "y", values["y"], height, coords)
        if name == "click":
            return GuiAction("click", x=x, y=y)
        return GuiAction("scroll", x=x, y=y, direction=_direction(values["direction"]))
    if name == "click_element":
        return GuiAction("click_element", ref=_ref(values["ref"]))
    if name == "type":
        text = _string(name, "text", values["text"])
        if not text:
            raise ActionParseError("type needs non-empty text")
        return GuiAction("type", text=text)
    if name == "press":
        return GuiAction("press", key=_canonical_key(_string(name, "key", values["key"])))
    return GuiAction("done")


def _coordinate(name: str, param: str, value: _Value, size: int, coords: str) -> float:
    if value.kind == "word" and value.value.lstrip("+-").lower() in ("nan", "inf", "infinity"):
        raise ActionParseError(f"{param} must be a finite number, got {value.src}")
    if value.kind != "number":
        raise ActionParseError(f"{name} expects a number for {param}, got {_show(value.src)}")
    number = float(value.value)
    if not math.isfinite(number):
        raise ActionParseError(f"{param} must be a finite number, got {value.src}")
    if coords == "pixels":
        if not 0 <= number < size:
            raise ActionParseError(f"{param}={value.src} is outside the screenshot (0 <= {param} < {size})")
        return number + 0.0  # -0.0 -> 0.0
    if not 0 <= number <= 1:
        raise ActionParseError(f"{param}={value.src} is outside [0, 1] (normalized coordinates)")
    return number * size + 0.0


def _ref(value: _Value) -> int:
    if value.kind != "number" or not _INTEGER.fullmatch(value.value):
        raise ActionParseError(f"click_element expects an integer ref, got {_show(value.src)}")
    digits = value.value.lstrip("+-").lstrip("0")
    if value.value.startswith("-") and digits:
        raise ActionParseError(f"click_element ref must be non-negative, got {value.src}")
    if len(digits) > _MAX_REF_DIGITS:
        raise ActionParseError(f"click_element ref {value.src} is too large")
    return int(digits or "0")


def _string(name: str, param: str, value: _Value) -> str:
    if value.kind == "string":
        return value.value
    message = f"{name} expects a quoted string for {param}, got {_show(value.src)}"
    if value.kind == "word" and value.src == value.value:
        message += f'; put it in quotes: "{value.value}"'
    raise ActionParseError(message)


def _direction(value: _Value) -> str:
    direction = _string("scroll", "direction", value).lower()
    if direction not in DIRECTIONS:
        raise ActionParseError(f'scroll direction must be "up" or "down", got {_show(value.src)}')
    return direction


def _canonical_key(key: str) -> str:
    """The canonical spelling of a key or key combination (``shift+ctrl+A`` -> ``Control+Shift+A``)."""
    if not key:
        raise ActionParseError('press needs a key name, e.g. press("Enter")')
    base, parts = _split_key(key)
    mods: list[str] = []
    for part in parts:
        if not part or not base:
            raise ActionParseError(f"key combination {_excerpt(key)!r} has an empty part")
        mod = _MODIFIER_LOOKUP.get(part.lower())
        if mod is None:
            raise ActionParseError(
                f"unknown modifier {_excerpt(part)!r} in {_excerpt(key)!r}; "
                f"the modifiers are {', '.join(MODIFIERS)}"
            )
        if mod in mods:
            raise ActionParseError(f"modifier {mod} appears twice in {_excerpt(key)!r}")
        mods.append(mod)
    mods.sort(key=MODIFIERS.index)
    return "+".join([*mods, _base_key(base, key)])


def _split_key(key: str) -> tuple[str, list[str]]:
    """``(key, modifiers)`` of a combination: ``Control+Shift+a`` -> ``("a", ["Control", "Shift"])``."""
    if len(key) == 1:
        return key, []
    if key.endswith("++"):  # the "+" key itself: Control++
        return "+", key[:-2].split("+")
    head, sep, base = key.rpartition("+")
    return (base, head.split("+")) if sep else (key, [])


def _base_key(base: str, key: str) -> str:
    if len(base) == 1:
        if base == " ":
            return "Space"
        if base.isprintable():
            return base
    else:
        named = _KEY_LOOKUP.get(base.lower())
        if named is not None:
            return named
        mod = _MODIFIER_LOOKUP.get(base.lower())
        if mod is not None:
            raise ActionParseError(f"{mod} is a modifier; combine it with a key, e.g. {mod}+a")
    message = f"unknown key {_excerpt(key)!r}"
    close = []
    if len(base) >= 3:  # no suggestion for a stray character or two
        close = difflib.get_close_matches(base[:40].lower(), list(_KEY_LOOKUP), n=1, cutoff=0.75)
    if close:
        message += f" (did you mean {_KEY_LOOKUP[close[0]]}?)"
    raise ActionParseError(
        f"{message}; use a key name (Enter, Tab, Backspace, Escape, ArrowDown, ...), "
        "a single character, or a combination like Control+a"
    )


def _format_number(value: float | None, size: int, coords: str) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"coordinates must be finite numbers, got {value!r}")
    if coords == "normalized":
        return f"{float(value) / size + 0.0:.4f}"
    rounded = round(float(value), 3) + 0.0
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.3f}".rstrip("0")


def _format_point(action: GuiAction, width: int, height: int, coords: str) -> str:
    return f"{_format_number(action.x, width, coords)}, {_format_number(action.y, height, coords)}"
