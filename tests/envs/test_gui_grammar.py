"""The text action grammar of the GUI envs: parse_action, format_action, grammar_help, action_kind.

Pure parser tests (no browser, no backend): every action in every form, the round trip with
the canonical text, every error with its exact message, and adversarial inputs that must be
answered quickly with an ActionParseError and nothing else.
"""

from __future__ import annotations

import time

import pytest
from embodied_rl.envs.gui.base import ACTION_KINDS, GuiAction
from embodied_rl.envs.gui.grammar import (
    COORD_MODES,
    KEYS,
    MODIFIERS,
    ActionParseError,
    action_kind,
    format_action,
    grammar_help,
    parse_action,
)

W, H = 160, 210
ACTIONS = 'click(x, y), click_element(ref), type("text"), press("key"), scroll(x, y, "up"|"down"), done()'
KEY_HINT = "use a key name (Enter, Tab, Backspace, Escape, ArrowDown, ...), a single character, or a combination like Control+a"


def parse(text: str, **kwargs) -> GuiAction:
    kwargs = {"width": W, "height": H} | kwargs
    return parse_action(text, **kwargs)


def error(text: object, **kwargs) -> str:
    """The message of a text that must not parse."""
    with pytest.raises(ActionParseError) as info:
        parse(text, **kwargs)  # type: ignore[arg-type]
    assert type(info.value) is ActionParseError and isinstance(info.value, ValueError)
    return str(info.value)


def timed_error(text: str, **kwargs) -> str:
    start = time.perf_counter()
    message = error(text, **kwargs)
    assert time.perf_counter() - start < 1.0
    return message


# ---- constants -------------------------------------------------------------------------------


def test_constants() -> None:
    assert COORD_MODES == ("pixels", "normalized")
    assert MODIFIERS == ("Control", "Shift", "Alt", "Meta")
    assert set(KEYS) == {
        "Enter", "Tab", "Backspace", "Delete", "Escape", "Space", "ArrowUp", "ArrowDown",
        "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown",
    }  # fmt: skip
    assert len(KEYS) == len(set(KEYS))


def test_the_grammar_covers_every_action_kind() -> None:
    # One valid text per kind, in the order of ACTION_KINDS: a new kind in base.py fails here.
    texts = ["click(1, 2)", "click_element(0)", 'type("a")', 'press("a")', 'scroll(1, 2, "up")', "done()"]
    assert [parse(t).kind for t in texts] == list(ACTION_KINDS)


# ---- valid actions ---------------------------------------------------------------------------

VALID = {
    "click": ("click(80, 95)", GuiAction("click", x=80.0, y=95.0)),
    "click decimals": ("click(80.25, 0.5)", GuiAction("click", x=80.25, y=0.5)),
    "click leading dot": ("click(.5, 5.)", GuiAction("click", x=0.5, y=5.0)),
    "click plus sign and zero": ("click(+3, -0)", GuiAction("click", x=3.0, y=0.0)),
    "click edge": ("click(0, 209.999)", GuiAction("click", x=0.0, y=209.999)),
    "click last pixel": ("click(159, 209)", GuiAction("click", x=159.0, y=209.0)),
    "click no spaces": ("click(1,2)", GuiAction("click", x=1.0, y=2.0)),
    "click spaces everywhere": ("  click ( 1 ,\t2 )  ", GuiAction("click", x=1.0, y=2.0)),
    "click keywords": ("click(x=3, y=4)", GuiAction("click", x=3.0, y=4.0)),
    "click keywords swapped": ("click(y = 4, x = 3)", GuiAction("click", x=3.0, y=4.0)),
    "click positional then keyword": ("click(3, y=4)", GuiAction("click", x=3.0, y=4.0)),
    "click_element": ("click_element(4)", GuiAction("click_element", ref=4)),
    "click_element zero": ("click_element(0)", GuiAction("click_element", ref=0)),
    "click_element leading zeros": ("click_element(007)", GuiAction("click_element", ref=7)),
    "click_element keyword": ("click_element(ref=12)", GuiAction("click_element", ref=12)),
    "click_element big": (
        "click_element(123456789012345678)",
        GuiAction("click_element", ref=123456789012345678),
    ),
    "type": ('type("hello world")', GuiAction("type", text="hello world")),
    "type single quotes": ("type('say \"hi\"')", GuiAction("type", text='say "hi"')),
    "type keyword": ('type(text="x")', GuiAction("type", text="x")),
    "type spaces kept": ('type("  a  ")', GuiAction("type", text="  a  ")),
    "type only spaces": ('type(" ")', GuiAction("type", text=" ")),
    "type escapes": (
        r'type("a\"b\'c\\d\/e\nf\tg\rh\bi\fj")',
        GuiAction("type", text="a\"b'c\\d/e\nf\tg\rh\bi\fj"),
    ),
    "type unicode escape": (r'type("caf\u00e9 \u6F22")', GuiAction("type", text="café 漢")),
    "type surrogate pair": (r'type("\ud83d\ude00")', GuiAction("type", text="😀")),
    "type lone surrogate escape": (r'type("\ud800x")', GuiAction("type", text="\ud800x")),
    "type raw unicode": ('type("漢字 🤖")', GuiAction("type", text="漢字 🤖")),
    "type raw newline": ('type("a\nb")', GuiAction("type", text="a\nb")),
    "type parens and commas": ('type("f(1, 2); g()")', GuiAction("type", text="f(1, 2); g()")),
    "press": ('press("Enter")', GuiAction("press", key="Enter")),
    "press lower case": ('press("enter")', GuiAction("press", key="Enter")),
    "press upper case": ("press('ARROWDOWN')", GuiAction("press", key="ArrowDown")),
    "press character": ('press("a")', GuiAction("press", key="a")),
    "press capital": ('press("A")', GuiAction("press", key="A")),
    "press plus": ('press("+")', GuiAction("press", key="+")),
    "press space char": ('press(" ")', GuiAction("press", key="Space")),
    "press unicode char": ('press("é")', GuiAction("press", key="é")),
    "press combination": ('press("Control+a")', GuiAction("press", key="Control+a")),
    "press shift tab": ('press("shift+tab")', GuiAction("press", key="Shift+Tab")),
    "press modifiers sorted": (
        'press("meta+alt+SHIFT+ctrl+x")',
        GuiAction("press", key="Control+Shift+Alt+Meta+x"),
    ),
    "press control plus": ('press("Control++")', GuiAction("press", key="Control++")),
    "press control space": ('press("Control+ ")', GuiAction("press", key="Control+Space")),
    "press alias": ('press("esc")', GuiAction("press", key="Escape")),
    "press alias return": ('press("Return")', GuiAction("press", key="Enter")),
    "press alias arrow": ('press("Cmd+Up")', GuiAction("press", key="Meta+ArrowUp")),
    "press keyword": ('press(key="Tab")', GuiAction("press", key="Tab")),
    "scroll": ('scroll(80, 95, "down")', GuiAction("scroll", x=80.0, y=95.0, direction="down")),
    "scroll up any case": ("scroll(1, 2, 'UP')", GuiAction("scroll", x=1.0, y=2.0, direction="up")),
    "scroll keywords": (
        'scroll(direction="up", y=2, x=1)',
        GuiAction("scroll", x=1.0, y=2.0, direction="up"),
    ),
    "done": ("done()", GuiAction("done")),
    "done spaces": ("done( )", GuiAction("done")),
    "trailing newline": ("done()\n", GuiAction("done")),
    "trailing semicolon": ("click(1, 2);", GuiAction("click", x=1.0, y=2.0)),
    "semicolon and newlines": ("\n\n click(1, 2) ; \n", GuiAction("click", x=1.0, y=2.0)),
}


@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_actions(case: str) -> None:
    text, action = VALID[case]
    assert parse(text) == action


@pytest.mark.parametrize(
    ("text", "x", "y"),
    [
        ("click(0.5, 0.25)", 80.0, 52.5),
        ("click(0, 0)", 0.0, 0.0),
        ("click(1, 1)", 160.0, 210.0),  # the far edges, as the conversion x * width says
        ("click(x=.125, y=0.1)", 20.0, 21.0),
    ],
)
def test_normalized_coordinates_become_pixels(text: str, x: float, y: float) -> None:
    action = parse(text, coords="normalized")
    assert action.kind == "click" and action.x == pytest.approx(x) and action.y == pytest.approx(y)


def test_normalized_scroll() -> None:
    action = parse('scroll(0.5, 0.5, "down")', coords="normalized")
    assert action == GuiAction("scroll", x=80.0, y=105.0, direction="down")
    # Actions without coordinates are the same in both modes.
    assert parse("click_element(3)", coords="normalized") == GuiAction("click_element", ref=3)
    assert parse('press("Tab")', coords="normalized") == GuiAction("press", key="Tab")


def test_coordinates_are_checked_against_the_given_size() -> None:
    assert parse("click(639, 479)", width=640, height=480) == GuiAction("click", x=639.0, y=479.0)
    assert error("click(640, 0)", width=640, height=480) == "x=640 is outside the screenshot (0 <= x < 640)"


def test_max_chars_is_on_the_raw_text() -> None:
    text = "click(1, 2)"
    assert parse(text, max_chars=len(text)).kind == "click"
    assert error(text, max_chars=len(text) - 1) == "the action is 11 characters; the limit is 10"
    assert error(" " + text, max_chars=len(text)) == "the action is 12 characters; the limit is 11"
    assert error("x" * 513) == "the action is 513 characters; the limit is 512"


# ---- format_action and the round trip --------------------------------------------------------

FORMATS = [
    (GuiAction("click", x=80.0, y=95.0), "click(80, 95)"),
    (GuiAction("click", x=80, y=95), "click(80, 95)"),
    (GuiAction("click", x=80.5, y=0.125), "click(80.5, 0.125)"),
    (GuiAction("click", x=1.23456, y=2.9999), "click(1.235, 3)"),
    (GuiAction("click", x=-0.0, y=0.0), "click(0, 0)"),
    (GuiAction("click_element", ref=4), "click_element(4)"),
    (GuiAction("type", text='say "hi"\n'), 'type("say \\"hi\\"\\n")'),
    (GuiAction("type", text="漢字 é"), 'type("漢字 é")'),
    (GuiAction("press", key="Control+a"), 'press("Control+a")'),
    (GuiAction("scroll", x=3.0, y=4.0, direction="up"), 'scroll(3, 4, "up")'),
    (GuiAction("done"), "done()"),
]


@pytest.mark.parametrize(("action", "text"), FORMATS)
def test_format_action(action: GuiAction, text: str) -> None:
    assert format_action(action, width=W, height=H) == text


def test_format_action_normalized() -> None:
    assert format_action(GuiAction("click", x=80.0, y=52.5), width=W, height=H, coords="normalized") == (
        "click(0.5000, 0.2500)"
    )
    action = GuiAction("scroll", x=0.0, y=209.0, direction="down")
    text = format_action(action, width=W, height=H, coords="normalized")
    assert text == 'scroll(0.0000, 0.9952, "down")'
    back = parse(text, coords="normalized")
    assert back.direction == "down" and back.x == 0.0 and back.y == pytest.approx(209.0, abs=H * 1e-4)


ROUND_TRIP = [
    GuiAction("click", x=0.0, y=0.0),
    GuiAction("click", x=159.0, y=209.0),
    GuiAction("click", x=12.5, y=7.25),
    GuiAction("click_element", ref=0),
    GuiAction("click_element", ref=99),
    GuiAction("type", text="hello"),
    GuiAction("type", text="quotes \" ' \\ and\nlines\tand tabs"),
    GuiAction("type", text="\x00\x01\x1b control \u2028 \ufeff"),
    GuiAction("type", text="漢字 🤖 \ud800 lone"),
    GuiAction("type", text="'"),
    GuiAction("press", key="Enter"),
    GuiAction("press", key='"'),
    GuiAction("press", key="\\"),
    GuiAction("press", key="Control+Shift+Alt+Meta+ArrowLeft"),
    GuiAction("press", key="Shift++"),
    GuiAction("scroll", x=5.0, y=6.0, direction="down"),
    GuiAction("done"),
]


@pytest.mark.parametrize("action", ROUND_TRIP)
def test_round_trip(action: GuiAction) -> None:
    text = format_action(action, width=W, height=H)
    assert parse(text) == action
    assert format_action(parse(text), width=W, height=H) == text


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (GuiAction("click", x=None, y=1.0), "coordinates must be finite numbers, got None"),
        (GuiAction("click", x=float("nan"), y=1.0), "coordinates must be finite numbers, got nan"),
        (GuiAction("click", x=True, y=1.0), "coordinates must be finite numbers, got True"),
        (GuiAction("scroll", x=1.0, y=1.0), "scroll direction must be 'up' or 'down', got None"),
        (GuiAction("click_element", ref=-1), "click_element needs a non-negative int ref, got -1"),
        (GuiAction("click_element"), "click_element needs a non-negative int ref, got None"),
        (GuiAction("type", text=""), "type needs a non-empty text, got ''"),
        (GuiAction("press"), "press needs a non-empty key, got None"),
        (GuiAction("drag"), "unknown action kind 'drag'; expected one of " + str(ACTION_KINDS)),
    ],
)
def test_format_action_rejects_incomplete_actions(action: GuiAction, message: str) -> None:
    with pytest.raises(ValueError) as info:
        format_action(action, width=W, height=H)
    assert str(info.value) == message


# ---- errors: the action as a whole -----------------------------------------------------------

STRUCTURE_ERRORS = {
    "empty": ("", "empty action; write one action, e.g. click(80, 120) or done()"),
    "blank": (" \n\t ", "empty action; write one action, e.g. click(80, 120) or done()"),
    "two actions": (
        "click(1, 2) click(3, 4)",
        "unexpected text after the action: 'click(3, 4)'; write one action per turn",
    ),
    "two actions with semicolon": (
        "click(1, 2); done()",
        "unexpected text after the action: 'done()'; write one action per turn",
    ),
    "two semicolons": ("done();;", "unexpected text after the action: ';'; write one action per turn"),
    "prose after": (
        "done() I clicked the button and now the task is complete.",
        "unexpected text after the action: 'I clicked the button and now the task is...'; write one action per turn",
    ),
    "prose before": (
        "I will click(3, 4)",
        "unexpected text before the action: 'I will '; write only the action, e.g. click(80, 120) or done()",
    ),
    "label before": (
        "Action: click(3, 4)",
        "unexpected text before the action: 'Action: '; write only the action, e.g. click(80, 120) or done()",
    ),
    "action name in prose before": (
        "click the button: click(3, 4)",
        "unexpected text before the action: 'click the button: '; write only the action, e.g. click(80, 120) or done()",
    ),
    "code fence": (
        "```\ndone()\n```",
        "unexpected text before the action: '```\\n'; write only the action, e.g. click(80, 120) or done()",
    ),
    "no action name": (
        "(3, 4)",
        "expected an action name at the start, got '(3, 4)'; write one action, e.g. click(80, 120) or done()",
    ),
    "quoted name": (
        '"click"',
        "expected an action name at the start, got '\"click\"'; write one action, e.g. click(80, 120) or done()",
    ),
    "unknown action": ("tap(3, 4)", f"unknown action 'tap'; the actions are {ACTIONS}"),
    "misspelled action": (
        "clik(3, 4)",
        f"unknown action 'clik' (did you mean click?); the actions are {ACTIONS}",
    ),
    "capitalised action": (
        "Done()",
        f"unknown action 'Done' (did you mean done?); the actions are {ACTIONS}",
    ),
    "close to click_element": (
        "click_elem(3)",
        f"unknown action 'click_elem' (did you mean click_element?); the actions are {ACTIONS}",
    ),
    "prose": ("hello world", f"unknown action 'hello'; the actions are {ACTIONS}"),
    "missing parenthesis": ("click 3, 4", "missing '(' after click; write click(x, y)"),
    "bare done": ("done", "missing '(' after done; write done()"),
    "bare scroll": ("scroll", 'missing \'(\' after scroll; write scroll(x, y, "up"|"down")'),
    "not closed": ("click(3, 4", "missing ')': click( is not closed"),
    "not closed after comma": ("click(3,", "missing ')': click( is not closed"),
    "not closed empty": ("done(", "missing ')': done( is not closed"),
    "missing comma": ("click(3 4)", "expected ',' or ')' at column 9, got '4)'"),
    "bracket instead of paren": ("click(3, 4]", "expected ',' or ')' at column 11, got ']'"),
    "trailing comma": ("click(3, 4,)", "missing argument at column 12"),
    "leading comma": ("click(, 4)", "missing argument at column 7"),
    "nested parentheses": (
        "click((3, 4))",
        "unexpected '(' at column 7; arguments are numbers or quoted strings",
    ),
    "list argument": ("click([3, 4])", "unexpected '[' at column 7; arguments are numbers or quoted strings"),
    "call argument": ("click(f(1), 2)", "expected ',' or ')' at column 8, got '(1), 2)'"),
    "columns from the first non-blank": ("\n  click(3 4)", "expected ',' or ')' at column 9, got '4)'"),
    "too many arguments": ("click(" + "1, " * 20 + "1)", "click takes 2 arguments (x, y), got more than 8"),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE_ERRORS))
def test_structure_errors(case: str) -> None:
    text, message = STRUCTURE_ERRORS[case]
    assert error(text) == message


# ---- errors: arguments -----------------------------------------------------------------------

ARGUMENT_ERRORS = {
    "click one argument": ("click(3)", "click takes 2 arguments (x, y), got 1"),
    "click no arguments": ("click()", "click takes 2 arguments (x, y), got 0"),
    "click three arguments": ("click(1, 2, 3)", "click takes 2 arguments (x, y), got 3"),
    "click_element two arguments": ("click_element(1, 2)", "click_element takes 1 argument (ref), got 2"),
    "click_element no argument": ("click_element()", "click_element takes 1 argument (ref), got 0"),
    "type no argument": ("type()", "type takes 1 argument (text), got 0"),
    "press two arguments": ('press("Control", "a")', "press takes 1 argument (key), got 2"),
    "scroll two arguments": ("scroll(1, 2)", "scroll takes 3 arguments (x, y, direction), got 2"),
    "done with an argument": ('done("yes")', "done takes no arguments, got 1"),
    "done with a keyword": ("done(success=1)", "done takes no arguments, got 1"),
    "unknown keyword": ("click(x=1, z=2)", "click has no argument 'z'; its arguments are (x, y)"),
    "unknown keyword first": ("click(z=1)", "click has no argument 'z'; its arguments are (x, y)"),
    "keyword of another action": (
        "click_element(x=1)",
        "click_element has no argument 'x'; its arguments are (ref)",
    ),
    "keyword case": ("click(X=1, Y=2)", "click has no argument 'X'; its arguments are (x, y)"),
    "duplicate keyword": ("click(x=1, x=2)", "click got argument 'x' twice"),
    "keyword repeats a positional": ("click(3, x=4)", "click got argument 'x' twice"),
    "positional after keyword": (
        "click(x=1, 2)",
        "positional argument after a keyword argument in click; write click(x, y)",
    ),
    "double equals": ("click(x==1, 2)", "expected ',' or ')' at column 8, got '==1, 2)'"),
    "x string": ('click("80", 95)', 'click expects a number for x, got "80"'),
    "y word": ("click(80, top)", "click expects a number for y, got top"),
    "scroll x string": ('scroll("a", 1, "up")', 'scroll expects a number for x, got "a"'),
    "ref string": ('click_element("abc")', 'click_element expects an integer ref, got "abc"'),
    "ref single-quoted string": ("click_element('4')", "click_element expects an integer ref, got '4'"),
    "ref word": ("click_element(button)", "click_element expects an integer ref, got button"),
    "ref decimal": ("click_element(3.5)", "click_element expects an integer ref, got 3.5"),
    "ref integral decimal": ("click_element(3.0)", "click_element expects an integer ref, got 3.0"),
    "ref negative": ("click_element(-1)", "click_element ref must be non-negative, got -1"),
    "ref too large": (
        "click_element(1234567890123456789)",
        "click_element ref 1234567890123456789 is too large",
    ),
    "type number": ("type(42)", "type expects a quoted string for text, got 42"),
    "type bare word": (
        "type(hello)",
        'type expects a quoted string for text, got hello; put it in quotes: "hello"',
    ),
    "type empty": ('type("")', "type needs non-empty text"),
    "type empty single quotes": ("type('')", "type needs non-empty text"),
    "press bare key": (
        "press(Enter)",
        'press expects a quoted string for key, got Enter; put it in quotes: "Enter"',
    ),
    "press number": ("press(5)", "press expects a quoted string for key, got 5"),
    "scroll bare direction": (
        "scroll(1, 2, down)",
        'scroll expects a quoted string for direction, got down; put it in quotes: "down"',
    ),
    "scroll bad direction": ('scroll(1, 2, "left")', 'scroll direction must be "up" or "down", got "left"'),
    "scroll empty direction": ("scroll(1, 2, '')", 'scroll direction must be "up" or "down", got \'\''),
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_argument_errors(case: str) -> None:
    text, message = ARGUMENT_ERRORS[case]
    assert error(text) == message


NUMBER_ERRORS = {
    "exponent": ("click(1e5, 3)", "bad number '1e5' at column 7; write plain decimals like 80 or 80.5"),
    "unit": ("click(3px, 4)", "bad number '3px' at column 7; write plain decimals like 80 or 80.5"),
    "two dots": ("click(1.2.3, 4)", "bad number '1.2.3' at column 7; write plain decimals like 80 or 80.5"),
    "underscore": ("click(1_000, 4)", "bad number '1_000' at column 7; write plain decimals like 80 or 80.5"),
    "lone sign": ("click(-, 4)", "bad number '-' at column 7"),
    "lone dot": ("click(., 4)", "bad number '.' at column 7"),
    "double sign": ("click(--3, 4)", "bad number '--3' at column 7"),
    "unicode digits": ("click(١٢, 4)", "bad number '١٢' at column 7; use ASCII digits 0-9"),
    "fullwidth digits": ("click(１, 2)", "bad number '１' at column 7; use ASCII digits 0-9"),
    "ascii then unicode digit": (
        "click(1２, 2)",
        "bad number '1２' at column 7; write plain decimals like 80 or 80.5",
    ),
    "nan": ("click(nan, 4)", "x must be a finite number, got nan"),
    "NaN": ("click(3, NaN)", "y must be a finite number, got NaN"),
    "inf": ("click(inf, 4)", "x must be a finite number, got inf"),
    "negative infinity": ("click(-Infinity, 4)", "x must be a finite number, got -Infinity"),
    "infinite literal": ("click(" + "9" * 400 + ", 4)", "x must be a finite number, got " + "9" * 40 + "..."),
    "quoted nan": ('click("nan", 4)', 'click expects a number for x, got "nan"'),
    "x too large": ("click(250, 4)", "x=250 is outside the screenshot (0 <= x < 160)"),
    "x equal to width": ("click(160, 4)", "x=160 is outside the screenshot (0 <= x < 160)"),
    "y equal to height": ("click(3, 210.0)", "y=210.0 is outside the screenshot (0 <= y < 210)"),
    "x negative": ("click(-1, 4)", "x=-1 is outside the screenshot (0 <= x < 160)"),
    "scroll y outside": ('scroll(3, 999, "up")', "y=999 is outside the screenshot (0 <= y < 210)"),
}


@pytest.mark.parametrize("case", sorted(NUMBER_ERRORS))
def test_number_errors(case: str) -> None:
    text, message = NUMBER_ERRORS[case]
    assert error(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("click(1.5, 0.5)", "x=1.5 is outside [0, 1] (normalized coordinates)"),
        ("click(0.5, -0.1)", "y=-0.1 is outside [0, 1] (normalized coordinates)"),
        ("click(80, 95)", "x=80 is outside [0, 1] (normalized coordinates)"),
        ('scroll(0.5, 1.0001, "up")', "y=1.0001 is outside [0, 1] (normalized coordinates)"),
        ("click(nan, 0.5)", "x must be a finite number, got nan"),
    ],
)
def test_normalized_range_errors(text: str, message: str) -> None:
    assert error(text, coords="normalized") == message


STRING_ERRORS = {
    "unterminated": ('type("hello)', 'unterminated string starting at column 6; close it with "'),
    "unterminated single": ("type('hello", "unterminated string starting at column 6; close it with '"),
    "unterminated by an escaped quote": (
        r'type("a\")',
        'unterminated string starting at column 6; close it with "',
    ),
    "ends with a backslash": ('type("a\\', 'unterminated string starting at column 6; close it with "'),
    "quote mismatch": ("type(\"a')", 'unterminated string starting at column 6; close it with "'),
    "unterminated in second argument": (
        'scroll(1, 2, "up)',
        'unterminated string starting at column 14; close it with "',
    ),
    "bad escape": (
        r'type("a\qb")',
        "bad escape \\q at column 8; strings allow \\\" \\' \\\\ \\n \\t and \\uXXXX",
    ),
    "escaped newline": (
        'type("a\\\nb")',
        "bad escape: \\ followed by '\\n' at column 8; strings allow \\\" \\' \\\\ \\n \\t and \\uXXXX",
    ),
    "bad x escape": (
        r'type("\x41")',
        "bad escape \\x at column 7; strings allow \\\" \\' \\\\ \\n \\t and \\uXXXX",
    ),
    "short unicode escape": (r'type("\u12")', "bad escape \\u12 at column 7; \\u needs 4 hex digits"),
    "non-hex unicode escape": (r'type("\uZZZZ")', "bad escape \\u at column 7; \\u needs 4 hex digits"),
    "unicode escape with sign": (r'type("\u+123")', "bad escape \\u at column 7; \\u needs 4 hex digits"),
    "unicode escape at the end": ('type("\\u', "bad escape \\u at column 7; \\u needs 4 hex digits"),
    "unicode escape with fullwidth digits": (
        r'type("\u１２３４")',
        "bad escape \\u at column 7; \\u needs 4 hex digits",
    ),
}


@pytest.mark.parametrize("case", sorted(STRING_ERRORS))
def test_string_errors(case: str) -> None:
    text, message = STRING_ERRORS[case]
    assert error(text) == message


KEY_ERRORS = {
    "empty key": ('press("")', 'press needs a key name, e.g. press("Enter")'),
    "unknown key": ('press("Launch")', f"unknown key 'Launch'; {KEY_HINT}"),
    "misspelled key": ('press("Entr")', f"unknown key 'Entr' (did you mean Enter?); {KEY_HINT}"),
    "misspelled in a combination": (
        'press("Shift+Tabb")',
        f"unknown key 'Shift+Tabb' (did you mean Tab?); {KEY_HINT}",
    ),
    "two characters": ('press("ab")', f"unknown key 'ab'; {KEY_HINT}"),
    "control character": ('press("\\n")', f"unknown key '\\n'; {KEY_HINT}"),
    "tab character": ('press("\t")', f"unknown key '\\t'; {KEY_HINT}"),
    "lone surrogate": ('press("\\udc00")', f"unknown key '\\udc00'; {KEY_HINT}"),
    "modifier alone": ('press("Shift")', "Shift is a modifier; combine it with a key, e.g. Shift+a"),
    "modifier alias alone": ('press("ctrl")', "Control is a modifier; combine it with a key, e.g. Control+a"),
    "two modifiers only": ('press("Control+Alt")', "Alt is a modifier; combine it with a key, e.g. Alt+a"),
    "unknown modifier": (
        'press("Hyper+a")',
        "unknown modifier 'Hyper' in 'Hyper+a'; the modifiers are Control, Shift, Alt, Meta",
    ),
    "key as modifier": (
        'press("Enter+a")',
        "unknown modifier 'Enter' in 'Enter+a'; the modifiers are Control, Shift, Alt, Meta",
    ),
    "repeated modifier": ('press("Control+ctrl+a")', "modifier Control appears twice in 'Control+ctrl+a'"),
    "trailing plus": ('press("Control+")', "key combination 'Control+' has an empty part"),
    "leading plus": ('press("+a")', "key combination '+a' has an empty part"),
    "double plus inside": ('press("Control++a")', "key combination 'Control++a' has an empty part"),
    "two pluses": ('press("++")', "key combination '++' has an empty part"),
}


@pytest.mark.parametrize("case", sorted(KEY_ERRORS))
def test_key_errors(case: str) -> None:
    text, message = KEY_ERRORS[case]
    assert error(text) == message


def test_every_named_key_and_modifier() -> None:
    for key in KEYS:
        assert parse(f'press("{key}")').key == key
        assert parse(f'press("{key.lower()}")').key == key
        assert parse(f'press("{key.upper()}")').key == key
        for mod in MODIFIERS:
            assert parse(f'press("{mod.lower()}+{key.lower()}")').key == f"{mod}+{key}"


@pytest.mark.parametrize("text", [None, 42, b"done()", ["done()"], GuiAction("done")])
def test_non_string_input(text: object) -> None:
    assert error(text) == f"the action must be a string, got {type(text).__name__}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coords": "percent"}, "coords must be one of ('pixels', 'normalized'), got 'percent'"),
        ({"width": 0}, "width must be a positive int, got 0"),
        ({"height": -5}, "height must be a positive int, got -5"),
        ({"width": 1.5}, "width must be a positive int, got 1.5"),
        ({"width": True}, "width must be a positive int, got True"),
        ({"height": None}, "height must be a positive int, got None"),
    ],
)
def test_invalid_configuration_is_a_plain_value_error(kwargs: dict, message: str) -> None:
    # A caller's mistake, not the model's: not an ActionParseError, raised whatever the text.
    for call in (
        lambda: parse("done()", **kwargs),
        lambda: format_action(GuiAction("done"), **({"width": W, "height": H} | kwargs)),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert type(info.value) is ValueError and str(info.value) == message


# ---- grammar_help and action_kind ------------------------------------------------------------


def test_grammar_help() -> None:
    text = grammar_help()
    assert len(text) < 600
    for usage in ["click(x, y)", "click_element(ref)", 'type("text")', 'press("key")', "done()"]:
        assert usage in text
    assert 'scroll(x, y, "up")' in text and 'scroll(x, y, "down")' in text and "Control+a" in text
    assert "pixels" in text and "160" not in text
    sized = grammar_help(width=160, height=210)
    assert len(sized) < 600 and "0 <= x < 160" in sized and "0 <= y < 210" in sized
    normalized = grammar_help("normalized", 160, 210)
    assert len(normalized) < 600 and "160x210" in normalized and "from 0 (left edge) to 1" in normalized
    assert "160" not in grammar_help("normalized")
    with pytest.raises(ValueError, match="coords must be one of"):
        grammar_help("percent")


def test_grammar_help_examples_parse() -> None:
    # The usages a prompt shows are valid actions once their placeholders are filled in.
    for text in ["click(3, 4)", "click_element(1)", 'type("text")', 'press("key")', "done()"]:
        assert action_kind(text) == text.split("(")[0]
    assert parse('press("Control+a")').key == "Control+a"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("click(3, 4)", "click"),
        ("click(9999, 9999)", "click"),  # invalid action, but its type is readable
        ("  click_element(abc", "click_element"),
        ("type", "type"),
        ("press (Enter)", "press"),
        ('scroll(1, 2, "left")', "scroll"),
        ("done() and more", "done"),
        ("clicks(1, 2)", None),
        ("Click(1, 2)", None),
        ("I will click(1, 2)", None),
        ("", None),
        ("(", None),
        ("\x00done()", None),
        ("\ud800", None),
        (None, None),
        (b"click", None),
        (123, None),
    ],
)
def test_action_kind(text: object, kind: str | None) -> None:
    assert action_kind(text) == kind  # type: ignore[arg-type]


# ---- adversarial input: fast, only ActionParseError -------------------------------------------

BIG = 10_000_000  # a max_chars that lets the huge texts reach the parser

ADVERSARIAL: dict[str, tuple[str, str]] = {
    "1 MB of letters": ("a" * 1_000_000, f"unknown action '{'a' * 40}...'; the actions are {ACTIONS}"),
    "1 MB of spaces": (" " * 1_000_000, "empty action; write one action, e.g. click(80, 120) or done()"),
    "100k open parentheses": ("(" * 100_000, "expected an action name at the start, got '((((("),
    "100k nested parentheses": (
        "click" + "(" * 100_000 + ")" * 100_000,
        "unexpected '(' at column 7; arguments are numbers or quoted strings",
    ),
    "100k nested calls": ("click(" * 100_000, "expected ',' or ')' at column 12, got '(click(click("),
    "5000-digit coordinate": ("click(1" + "0" * 5000 + ", 4)", "x must be a finite number, got 1000"),
    "5000-digit ref": ("click_element(1" + "0" * 5000 + ")", "click_element ref 1000"),
    "unicode digits": ("click(" + "٣" * 10_000 + ", 4)", "use ASCII digits 0-9"),
    "NUL bytes": ("\x00" * 100_000, "expected an action name at the start, got '\\x00"),
    "NUL inside": ("click(\x00, 1)", "unexpected '\\x00' at column 7"),
    "NUL after": ("done()\x00", "unexpected text after the action: '\\x00'"),
    "lone surrogates": ("\ud800" * 100_000 + "done()", "unexpected text before the action: '\\ud800"),
    "lone surrogate name": ("click\udc80(1, 2)", "missing '(' after click; write click(x, y)"),
    "lone surrogate key": ('press("\ud800")', "unknown key '\\ud800'"),
    "lone surrogate ref": (
        'click_element("\ud800")',
        "click_element expects an integer ref, got '\"\\ud800\"'",
    ),
    "unterminated 1 MB string": ('type("' + "a" * 1_000_000, "unterminated string starting at column 6"),
    "200k escapes then a bad one": ('type("' + "\\n" * 100_000 + '\\q")', "bad escape \\q at column 200007"),
    "1 MB after the action": ("done()" + " " * 1_000_000 + "x", "unexpected text after the action: 'x'"),
    "1 MB before the action": ("x" * 1_000_000 + " done()", "unexpected text before the action: 'xxx"),
    "many actions": ("done();" * 100_000, "unexpected text after the action: 'done();done();"),
    "many arguments": ("click(" + "1," * 500_000 + "1)", "got more than 8"),
    "many commas": ("click(" + "," * 1_000_000 + ")", "missing argument at column 7"),
    "long keyword": ("click(" + "x" * 1_000_000 + "=1)", "click has no argument 'xxxx"),
    "action names in prose": ("x " + "click " * 200_000, "unknown action 'x'"),
    "glued action names": ("click_element" * 70_000, "unknown action 'click_elementclick_element"),
    "huge modifier chain": ('press("' + "Control+" * 100_000 + 'a")', "modifier Control appears twice"),
    "1 MB of pluses": ('press("' + "+" * 1_000_000 + '")', "has an empty part"),
    "huge key": ('press("' + "x" * 1_000_000 + '")', "unknown key 'xxxx"),
    "huge direction": ('scroll(1, 2, "' + "u" * 1_000_000 + '")', 'scroll direction must be "up" or "down"'),
    "control characters": ("\x1b[2J\x07click(1, 2)", "unexpected text before the action: '\\x1b[2J\\x07'"),
    "bidi and bom": ("\ufeff\u202edone()", "unexpected text before the action: '\\ufeff\\u202e'"),
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_adversarial_inputs_fail_fast(case: str) -> None:
    text, message = ADVERSARIAL[case]
    assert len(text) <= BIG
    # Under the default limit: rejected (if long) before any parsing.
    if len(text) > 512:
        assert timed_error(text) == f"the action is {len(text)} characters; the limit is 512"
    # With a huge limit the parser itself must answer quickly, with its own error only.
    assert message in timed_error(text, max_chars=BIG)
    start = time.perf_counter()
    action_kind(text)
    assert time.perf_counter() - start < 1.0


def test_adversarial_inputs_that_are_valid() -> None:
    start = time.perf_counter()
    assert parse("click(0." + "0" * 5000 + "1, 4)", max_chars=BIG) == GuiAction("click", x=0.0, y=4.0)
    assert parse("click_element(" + "0" * 5000 + "7)", max_chars=BIG) == GuiAction("click_element", ref=7)
    assert parse("click(x" + " " * 1_000_000 + "=1, y=2)", max_chars=BIG) == GuiAction("click", x=1.0, y=2.0)
    text = "漢" * 1_000_000
    assert parse(f'type("{text}")', max_chars=BIG) == GuiAction("type", text=text)
    assert time.perf_counter() - start < 4.0
