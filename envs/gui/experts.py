"""Scripted experts for GUI tasks: they act from what a model sees.

An expert is ``expert(instruction, elements, history) -> action text``: the task's utterance, the
page's element list (:class:`~embodied_rl.envs.gui.base.Element`) and the action texts already
taken this episode; it returns one action in the grammar of
:mod:`~embodied_rl.envs.gui.grammar` (``click(x, y)``, ``type("text")``, ``press("Enter")``, ...).

Experts read only what a model can read: element tags, texts, values, the checked and focused
flags, and each element's ``center`` (an element list re-parsed from its text listing has
``width = height = 0`` and ``left, top`` at the center, no classes). They click at element
centers with ``click(x, y)``: whatever frame the listing is in (pixels, or fractions of the screen
in ``coords="normalized"``), the click is written in the same frame. Decisions come from the page
state (a checkbox's flag, a field's value) where the page shows it, from ``history`` otherwise
(the second button of a sequence); history entries are compared by meaning (a canonical
``click(0.4310, 0.3140)`` is a click at the listed ``(0.431,0.314)``). No expert needs more than
7 steps (the MiniWoB envs allow 8); click-checkboxes-large is left out, as it needs up to 13 and
its boxes can lie below the screen.

The experts of ``click-test``, ``click-button``, ``click-checkboxes``, ``enter-text``,
``focus-text`` and ``click-link`` rely only on MiniWoB's utterances and element conventions
(buttons are ``button`` elements labelled by their text, text fields ``input_text``, a checkbox a
``label`` with the word next to an ``input_checkbox``, links elements with the link's text), which
the synthetic backend mirrors. Each expert in :data:`GUI_EXPERTS` solved >= 95% of 50 seeds of
its task in the real browser (MiniWoB backend; numbers in ``tests/envs/test_gui_miniwob.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from embodied_rl.envs.gui.base import Element

__all__ = ["GUI_EXPERTS", "Expert", "expert_for_task", "task_from_instruction"]

Expert = Callable[[str, list[Element], list[str]], str]

DONE = "done()"


# ---------------------------------------------------------------- action texts


def _num(value: float) -> str:
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def click(el: Element) -> str:
    """``click(x, y)`` at the element's center."""
    x, y = el.center
    return f"click({_num(x)}, {_num(y)})"


def type_text(text: str) -> str:
    return f"type({json.dumps(text, ensure_ascii=False)})"


def press(key: str) -> str:
    return f"press({json.dumps(key)})"


# Reading the history: the env may store each action canonically (``click(0.4310, 0.3140)`` for
# a listed ``(0.431,0.314)``), so actions are compared by meaning, not as strings.
_CLICK = re.compile(r"\s*click\(\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*\)\s*;?\s*")
_CALL = re.compile(r"\s*(type|press)\((.*)\)\s*;?\s*", re.S)


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 * max(1.0, abs(b))


def _clicked(action: str, el: Element) -> bool:
    """``action`` is a click at ``el``'s center (or ``click_element`` of its ref)."""
    m = _CLICK.fullmatch(action)
    if m is None:
        ref = re.fullmatch(r"\s*click_element\(\s*(\d+)\s*\)\s*;?\s*", action)
        return ref is not None and int(ref.group(1)) == el.ref
    try:
        x, y = float(m.group(1)), float(m.group(2))
    except ValueError:
        return False
    cx, cy = el.center
    return _near(x, cx) and _near(y, cy)


def _called(action: str, name: str, value: str) -> bool:
    """``action`` is ``type(value)`` / ``press(value)`` (keys compared ignoring case)."""
    m = _CALL.fullmatch(action)
    if m is None or m.group(1) != name:
        return False
    try:
        arg = json.loads(m.group(2))
    except ValueError:
        arg = m.group(2).strip().strip("'\"")
    return arg == value if name == "type" else str(arg).lower() == value.lower()


# ---------------------------------------------------------------- page helpers


def _quoted(instruction: str) -> list[str]:
    return re.findall(r'"([^"]*)"', instruction)


def _by_tag(elements: Sequence[Element], *tags: str) -> list[Element]:
    return [el for el in elements if el.tag in tags]


def _text_fields(elements: Sequence[Element]) -> list[Element]:
    return [el for el in elements if el.tag in ("input_text", "input_password", "textarea")]


def _find_text(elements: Sequence[Element], text: str, tags: Sequence[str] | None = None) -> Element | None:
    """The first element whose text is ``text`` (exactly, else ignoring case and blanks)."""
    pool = [el for el in elements if tags is None or el.tag in tags]
    for el in pool:
        if el.text == text:
            return el
    folded = text.strip().casefold()
    for el in pool:
        if el.text.strip().casefold() == folded:
            return el
    return None


def _clicks(history: Sequence[str]) -> int:
    return sum(1 for action in history if action.lstrip().startswith(("click(", "click_element(")))


def _distance(a: Element, b: Element) -> float:
    (ax, ay), (bx, by) = a.center, b.center
    return ((ax - bx) ** 2 + (2 * (ay - by)) ** 2) ** 0.5  # rows weigh more than columns


def _pair(labels: Sequence[Element], targets: Sequence[Element]) -> list[tuple[Element, Element]]:
    """Each label with its nearest target (greedy, one target per label), in label order."""
    candidates = sorted(
        ((_distance(lab, tgt), i, j) for i, lab in enumerate(labels) for j, tgt in enumerate(targets)),
        key=lambda t: t[0],
    )
    used_l: set[int] = set()
    used_t: set[int] = set()
    match: dict[int, int] = {}
    for _, i, j in candidates:
        if i in used_l or j in used_t:
            continue
        used_l.add(i)
        used_t.add(j)
        match[i] = j
    return [(labels[i], targets[match[i]]) for i in sorted(match)]


def _submit(elements: Sequence[Element], *names: str) -> Element | None:
    """The button named one of ``names`` (any case), else the last button."""
    for name in names:
        el = _find_text(_by_tag(elements, "button"), name) or _find_text(elements, name)
        if el is not None:
            return el
    buttons = _by_tag(elements, "button")
    return buttons[-1] if buttons else None


def _fill(fields: Sequence[tuple[Element, str]], submit: Element | None, history: Sequence[str]) -> str:
    """Fill each field with its text (click it, replace what it holds, type), then submit."""
    last = history[-1] if history else ""
    selected = _called(last, "press", "Control+a")
    for field, want in fields:
        if field.value == want:
            continue
        if (
            field.value == ""
            and _called(last, "type", want)
            and len(history) >= 2
            and _clicked(history[-2], field)
        ):
            continue  # typed into it just now; a page that does not report values
        if not (field.focused or _clicked(last, field) or selected):
            return click(field)
        if field.value and not selected:
            return press("Control+a")  # select what is there; typing replaces it
        return type_text(want)
    return click(submit) if submit is not None else DONE


# ---------------------------------------------------------------- experts


def click_only_button(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-test: "Click the button." -> the (only) button."""
    buttons = _by_tag(elements, "button")
    return click(buttons[0]) if buttons else DONE


def click_named_button(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-button, click-test-2: 'Click on the "Ok" button.', "Click button ONE." -> that button."""
    names = _quoted(instruction) or re.findall(r"[Cc]lick button (\S+?)\.?$", instruction)
    if not names:
        return DONE
    button = _find_text(_by_tag(elements, "button"), names[0])
    return click(button) if button is not None else DONE


def click_button_sequence(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-button-sequence: "Click button ONE, then click button TWO." (the history counts clicks)."""
    names = re.findall(r"button (\S+?)[,.]", instruction)
    if not names:
        return DONE
    name = names[min(_clicks(history), len(names) - 1)]
    button = _find_text(_by_tag(elements, "button"), name)
    return click(button) if button is not None else DONE


def select_and_submit(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-checkboxes(-transfer), click-option: "Select A, B and click Submit."

    Each ``label`` is paired with its nearest checkbox/radio; boxes whose state differs from
    the wanted one are clicked, then Submit.
    """
    m = re.match(r"Select (.*) and click Submit\.?$", instruction.strip())
    if m is None:
        return DONE
    wanted = set() if m.group(1) == "nothing" else {w.strip() for w in m.group(1).split(",")}
    boxes = _by_tag(elements, "input_checkbox", "input_radio")
    labels = [el for el in _by_tag(elements, "label") if el.text]
    for label, box in _pair(labels, boxes):
        want = label.text.strip() in wanted
        state = box.checked if box.checked is not None else any(_clicked(a, box) for a in history)
        if state != want:
            return click(box)
    return click_or_done(_submit(elements, "Submit"))


def click_or_done(el: Element | None) -> str:
    return click(el) if el is not None else DONE


def focus_text(instruction: str, elements: list[Element], history: list[str]) -> str:
    """focus-text: "Focus into the textbox."; focus-text-2: "Focus into the 2nd input textbox."."""
    fields = _text_fields(elements)
    m = re.search(r"(\d+)(?:st|nd|rd|th)", instruction)
    index = int(m.group(1)) - 1 if m else 0
    return click(fields[index]) if 0 <= index < len(fields) else DONE


def click_link(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-link: 'Click on the link "nam".'; click-tab-2: links hidden in other tabs.

    The link is the element with the quoted text; when no element shows it, the tabs not yet
    clicked are opened in turn.
    """
    names = _quoted(instruction)
    if not names:
        return DONE
    text = names[0]
    link = _find_text([el for el in elements if not el.tag.startswith("input")], text)
    if link is not None and not re.fullmatch(r"Tab #\d+", link.text):
        return click(link)
    tabs = [el for el in elements if re.fullmatch(r"Tab #\d+", el.text)]
    for tab in tabs[1:] + tabs[:1]:  # the first tab is open at the start
        if not any(_clicked(a, tab) for a in history):
            return click(tab)
    return DONE


def click_dialog_button(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-dialog: 'Close the dialog box by clicking the "x".'; click-dialog-2: 'labeled "OK"'."""
    names = _quoted(instruction) or ["x"]
    name = names[0]
    buttons = _by_tag(elements, "button")
    if name.lower() in ("x", "×"):
        for el in buttons:
            if el.text.strip().lower() in ("x", "×", "close", "close dialog"):
                return click(el)
        return DONE
    return click_or_done(_find_text(buttons, name))


def click_tab(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-tab: "Click on Tab #2."."""
    m = re.search(r"Tab #\d+", instruction)
    return click_or_done(_find_text(elements, m.group(0)) if m else None)


def enter_text(instruction: str, elements: list[Element], history: list[str]) -> str:
    """enter-text, enter-text-dynamic: 'Enter "Kasey" into the text field and press Submit.';
    enter-text-2: 'Type "KASEY" in all lower case letters in the text input and press Submit.'."""
    names = _quoted(instruction)
    fields = _text_fields(elements)
    if not names or not fields:
        return DONE
    text = names[0]
    if "lower case" in instruction:
        text = text.lower()
    elif "upper case" in instruction:
        text = text.upper()
    return _fill([(fields[0], text)], _submit(elements, "Submit"), history)


def enter_password(instruction: str, elements: list[Element], history: list[str]) -> str:
    """enter-password: 'Enter the password "fU" into both text fields and press submit.'."""
    names = _quoted(instruction)
    fields = _by_tag(elements, "input_password") or _text_fields(elements)
    if not names or not fields:
        return DONE
    return _fill([(f, names[0]) for f in fields], _submit(elements, "Submit"), history)


def login_user(instruction: str, elements: list[Element], history: list[str]) -> str:
    """login-user(-popup): 'Enter the username "ann" and the password "x1" ... and press login.'.

    A popup that interrupts (login-user-popup) is dismissed with its Cancel button.
    """
    names = _quoted(instruction)
    if len(names) < 2:
        return DONE
    cancel = _find_text(_by_tag(elements, "button"), "Cancel")
    if cancel is not None:
        return click(cancel)
    user = _by_tag(elements, "input_text")
    password = _by_tag(elements, "input_password")
    if not user or not password:
        return DONE
    return _fill([(user[0], names[0]), (password[0], names[1])], _submit(elements, "Login", "OK"), history)


def click_widget(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-widget: 'Click on a "checkbox" widget.' (radio, checkbox, text, textarea, button)."""
    names = _quoted(instruction)
    tags = {
        "radio": ("input_radio",),
        "checkbox": ("input_checkbox",),
        "text": ("input_text",),
        "textarea": ("textarea",),
        "button": ("button",),
    }.get(names[0] if names else "")
    found = _by_tag(elements, *tags) if tags else []
    return click(found[0]) if found else DONE


def expand_and_submit(instruction: str, elements: list[Element], history: list[str]) -> str:
    """click-collapsible: "Expand the section below and click submit." (header, then Submit)."""
    header = next((el for el in elements if el.text.startswith("Section #")), None)
    if header is not None and not any(_clicked(a, header) for a in history):
        return click(header)
    return click_or_done(_submit(elements, "Submit"))


_MOVIE_FIELDS = {"genre": ("genre",), "director": ("director",), "year": ("year", "date")}


def search_movies(instruction: str, elements: list[Element], history: list[str]) -> str:
    """multi-layouts, multi-orderings: "Search for crime movies directed by Curry from year 1995."

    Each field label (Genre / Director / Year or Released Date) is paired with its nearest text
    field; the three are filled, then the Submit / Search / Go! control is clicked.
    """
    m = re.search(r"Search for (.+?) movies directed by (.+?) from year (\d+)", instruction)
    if m is None:
        return DONE
    values = {"genre": m.group(1), "director": m.group(2), "year": m.group(3)}
    fields = _by_tag(elements, "input_text")
    labels, keys = [], []
    for el in elements:
        if el.tag.startswith("input") or el.tag == "button":
            continue
        low = el.text.lower()
        key = next((k for k, words in _MOVIE_FIELDS.items() if any(w in low for w in words)), None)
        if key is not None and key not in keys and len(low) < 20:
            labels.append(el)
            keys.append(key)
    pairs = _pair(labels, fields)
    if len(pairs) < 3:
        return DONE
    plan = [(field, values[keys[labels.index(label)]]) for label, field in pairs]
    submit = next((el for el in reversed(elements) if el.text.strip() in ("Submit", "Search", "Go!")), None)
    return _fill(plan, submit, history)


GUI_EXPERTS: dict[str, Expert] = {
    "click-test": click_only_button,
    "click-test-2": click_named_button,
    "click-test-transfer": click_named_button,
    "click-button": click_named_button,
    "click-button-sequence": click_button_sequence,
    "click-checkboxes": select_and_submit,
    "click-checkboxes-transfer": select_and_submit,
    "click-option": select_and_submit,
    "enter-text": enter_text,
    "enter-text-2": enter_text,
    "enter-text-dynamic": enter_text,
    "focus-text": focus_text,
    "focus-text-2": focus_text,
    "click-link": click_link,
    "click-tab-2": click_link,
    "click-tab-2-easy": click_link,
    "click-dialog": click_dialog_button,
    "click-dialog-2": click_dialog_button,
    "click-tab": click_tab,
    "enter-password": enter_password,
    "login-user": login_user,
    "login-user-popup": login_user,
    "click-widget": click_widget,
    "click-collapsible": expand_and_submit,
    "click-collapsible-nodelay": expand_and_submit,
    "multi-layouts": search_movies,
    "multi-orderings": search_movies,
}
"""MiniWoB task name -> scripted expert."""

# Utterance patterns, most specific first; each names a task whose expert handles the utterance.
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"Click the button\.", "click-test"),
    (r"Click button \S+, then click button \S+\.", "click-button-sequence"),
    (r"Click button \S+\.", "click-test-2"),
    (r'Click on the ".*" button\.', "click-button"),
    (r"Select .* and click Submit\.", "click-checkboxes"),
    (r'Enter ".*" into the text field and press Submit\.', "enter-text"),
    (r'Type ".*" in all (lower|upper) case letters in the text input and press Submit\.', "enter-text-2"),
    (r"Focus into the textbox\.", "focus-text"),
    (r"Focus into the \d+(st|nd|rd|th) input textbox\.", "focus-text-2"),
    (r'Click on the link ".*"\.', "click-link"),
    (r'Switch between the tabs to find and click on the link ".*"\.', "click-tab-2"),
    (r'Close the dialog box by clicking the "x"\.', "click-dialog"),
    (r'Click the button in the dialog box labeled ".*"\.', "click-dialog-2"),
    (r"Click on Tab #\d+\.", "click-tab"),
    (r'Enter the password ".*" into both text fields and press submit\.', "enter-password"),
    (r'Enter the username ".*" and the password ".*" into the text fields and press login\.', "login-user"),
    (r'Click on a ".*" widget\.', "click-widget"),
    (r"Expand the section below and click submit\.", "click-collapsible"),
    (r"Search for .* movies directed by .* from year \d+\.", "multi-layouts"),
)


def task_from_instruction(instruction: str) -> str | None:
    """A task of :data:`GUI_EXPERTS` whose expert handles ``instruction`` (None if none does).

    Some tasks share an utterance (click-checkboxes and click-option, click-test-2 and
    click-test-transfer, multi-layouts and multi-orderings); their experts are the same.
    """
    text = " ".join(str(instruction).split())
    for pattern, task in _PATTERNS:
        if re.fullmatch(pattern, text) and task in GUI_EXPERTS:
            return task
    return None


def expert_for_task(task: str) -> Expert | None:
    """The scripted expert of ``task`` (``click-test`` or ``miniwob/click-test-v1``), else None."""
    name = task
    if name.startswith("miniwob/"):
        name = name[len("miniwob/") :].removesuffix("-v1")
    return GUI_EXPERTS.get(name)
