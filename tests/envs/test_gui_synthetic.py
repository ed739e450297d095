"""The synthetic GUI backend: MiniWoB-like tasks drawn with PIL (no browser)."""

from __future__ import annotations

import re
import statistics
import time

import numpy as np
import pytest
from embodied_rl.envs.gui.base import BACKENDS, Element, GuiAction, Page, TargetError
from embodied_rl.envs.gui.synthetic import SYNTHETIC_TASKS, TASK_UTTERANCES, SyntheticBackend, widget_refs

WHITE = (255, 255, 255)
CORE_TASKS = ("click-test", "click-button", "click-checkboxes", "enter-text", "focus-text", "click-link")


# --------------------------------------------------------------------------------------------
# A tiny solver that reads only the instruction and the element list.


def _quoted(instruction: str) -> str:
    return re.search(r'"([^"]*)"', instruction).group(1)


def _box_of(label: Element, elements: list[Element], tag: str) -> Element:
    """The input drawn inside ``label`` (the browser's <label><input>word</label>)."""
    return next(e for e in elements if e.tag == tag and label.contains(*e.center))


class Solver:
    """Solves every task from ``page.instruction`` and ``page.elements``; clicks by ref or by point."""

    def __init__(self, backend: SyntheticBackend, by_point: bool) -> None:
        self.backend, self.by_point = backend, by_point

    def click(self, element: Element) -> Page:
        if self.by_point:
            x, y = element.center
            return self.backend.execute(GuiAction("click", x=x, y=y))
        return self.backend.execute(GuiAction("click_element", ref=element.ref))

    def type(self, text: str) -> Page:
        return self.backend.execute(GuiAction("type", text=text))

    def find(self, page: Page, tag: str, text: str | None = None, classes: str | None = None) -> Element:
        return next(
            e
            for e in page.elements
            if e.tag == tag and (text is None or e.text == text) and (classes is None or classes in e.classes)
        )

    def submit(self, page: Page) -> Page:
        return self.click(self.find(page, "button", "Submit"))

    def solve(self, page: Page) -> Page:
        ins, els = page.instruction, page.elements
        if ins == "Click the button.":
            return self.click(self.find(page, "button"))
        if ins.startswith("Click on the link"):
            return self.click(self.find(page, "span", _quoted(ins), classes="alink"))
        if ins.startswith("Click on the"):
            return self.click(self.find(page, "button", _quoted(ins)))
        if ins.startswith("Click on Tab"):
            return self.click(self.find(page, "a", ins.removeprefix("Click on ").rstrip(".")))
        if ins.startswith("Close the dialog"):
            return self.click(self.find(page, "button", classes="ui-dialog-titlebar-close"))
        if ins == "Focus into the textbox.":
            return self.click(self.find(page, "input_text"))
        if ins.startswith("Enter the password"):
            for field in [e for e in els if e.tag == "input_password"]:
                self.click(field)
                page = self.type(_quoted(ins))
            return self.submit(page)
        if ins.startswith("Enter"):
            self.click(self.find(page, "input_text"))
            page = self.type(_quoted(ins))
            return self.submit(page)
        if ins.startswith("Select"):
            words = re.fullmatch(r"Select (.*) and click Submit\.", ins).group(1)
            wanted = set() if words == "nothing" else set(words.split(", "))
            tag = "input_checkbox" if any(e.tag == "input_checkbox" for e in els) else "input_radio"
            for label in [e for e in els if e.tag == "label"]:
                box = _box_of(label, page.elements, tag)
                if (label.text in wanted) != box.checked:
                    page = self.click(label)
            return self.submit(page)
        raise AssertionError(f"solver does not know {ins!r}")


@pytest.fixture
def backend() -> SyntheticBackend:
    return SyntheticBackend()


# --------------------------------------------------------------------------------------------
# Registry, tasks, pages


def test_registered_and_tasks() -> None:
    assert BACKENDS.get("synthetic") is SyntheticBackend
    assert set(CORE_TASKS) <= set(SYNTHETIC_TASKS)
    assert SyntheticBackend.tasks == SYNTHETIC_TASKS
    assert SyntheticBackend().size == (160, 210)


def test_unknown_task_lists_tasks(backend: SyntheticBackend) -> None:
    with pytest.raises(ValueError, match="unknown synthetic task 'click-nothing'; tasks: click-test, "):
        backend.reset("click-nothing", 0)


def test_execute_before_reset_raises(backend: SyntheticBackend) -> None:
    with pytest.raises(RuntimeError, match="reset"):
        backend.execute(GuiAction("click", x=1, y=1))


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_page_shape_and_elements_on_screen(backend: SyntheticBackend, task: str) -> None:
    for seed in range(40):
        page = backend.reset(task, seed)
        assert page.screenshot.dtype == np.uint8 and page.screenshot.shape == (210, 160, 3)
        assert not page.done and page.reward == 0.0 and page.time_reward is None
        assert page.elements and [e.ref for e in page.elements] == list(range(1, len(page.elements) + 1))
        for e in page.elements:
            assert 0 <= e.left and e.left + e.width <= 160, (task, seed, e)
            assert 50 <= e.top and e.top + e.height <= 210, (task, seed, e)  # below the query band
            assert e.width > 0 and e.height > 0


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_deterministic_per_seed(task: str) -> None:
    a, b = SyntheticBackend(), SyntheticBackend()
    for seed in (0, 7, 123):
        pa, pb = a.reset(task, seed), b.reset(task, seed)
        assert pa.instruction == pb.instruction
        assert pa.elements == pb.elements
        assert np.array_equal(pa.screenshot, pb.screenshot)
    # resetting again reproduces the instance after actions changed the page
    first = a.reset(task, 5)
    Solver(a, by_point=False).solve(first)
    again = a.reset(task, 5)
    assert again.elements == first.elements and np.array_equal(again.screenshot, first.screenshot)


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_seeds_differ(backend: SyntheticBackend, task: str) -> None:
    pages = [backend.reset(task, seed) for seed in range(6)]
    distinct = {(p.instruction, tuple(p.elements)) for p in pages}
    assert len(distinct) >= 3
    assert not all(np.array_equal(pages[0].screenshot, p.screenshot) for p in pages[1:])


def test_instruction_drawn_in_yellow_band(backend: SyntheticBackend) -> None:
    shot = backend.reset("click-test", 0).screenshot
    band = shot[:50].reshape(-1, 3)
    assert (band == (255, 255, 0)).all(axis=1).mean() > 0.8  # mostly yellow
    assert (band.sum(axis=1) < 200).any()  # with dark text on it
    assert (shot[50:].reshape(-1, 3) != (255, 255, 0)).any(axis=1).all()  # no yellow below


def test_utterance_templates(backend: SyntheticBackend) -> None:
    patterns = {
        "click-test": r"Click the button\.",
        "click-button": r'Click on the "(submit|okay|ok|yes|no|cancel|next|previous)" button\.',
        "click-checkboxes": r"Select (nothing|[A-Za-z0-9]{2,7}(, [A-Za-z0-9]{2,7})*) and click Submit\.",
        "enter-text": r'Enter "[A-Z][a-z]+" into the text field and press Submit\.',
        "focus-text": r"Focus into the textbox\.",
        "click-link": r'Click on the link "[^" ]+"\.',
        "click-option": r"Select [A-Za-z0-9]{2,7} and click Submit\.",
        "enter-password": r'Enter the password "[A-Za-z0-9]{2,5}" into both text fields and press submit\.',
        "click-dialog": r'Close the dialog box by clicking the "x"\.',
        "click-tab": r"Click on Tab #[123]\.",
    }
    assert set(patterns) == set(SYNTHETIC_TASKS) == set(TASK_UTTERANCES)
    seen_nothing = False
    for task, pattern in patterns.items():
        for seed in range(30):
            ins = backend.reset(task, seed).instruction
            assert re.fullmatch(pattern, ins, flags=re.IGNORECASE if task == "click-button" else 0), (
                task,
                ins,
            )
            seen_nothing |= ins == "Select nothing and click Submit."
    assert seen_nothing


def test_element_conventions(backend: SyntheticBackend) -> None:
    page = backend.reset("click-checkboxes", 1)
    tags = [e.tag for e in page.elements]
    assert tags[-1] == "button" and page.elements[-1].text == "Submit"
    assert tags[:-1] == ["label", "input_checkbox"] * ((len(tags) - 1) // 2)
    for label, box in zip(page.elements[0:-1:2], page.elements[1:-1:2], strict=True):
        assert label.text and box.text == "" and box.checked is False and label.checked is None
        assert label.contains(*box.center)
    page = backend.reset("click-link", 2)
    assert page.elements and all(e.tag == "span" and e.classes == "alink" for e in page.elements)
    page = backend.reset("enter-text", 3)
    assert [(e.tag, e.text) for e in page.elements] == [("input_text", ""), ("button", "Submit")]
    assert backend.reset("click-test", 4).elements[0].text == "Click Me!"
    assert "Close" in [e.text for e in backend.reset("click-dialog", 0).elements]


# --------------------------------------------------------------------------------------------
# Drawing matches the element boxes


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_boxes_match_drawing(backend: SyntheticBackend, task: str) -> None:
    for seed in range(20):
        page = backend.reset(task, seed)
        shot = page.screenshot
        for i, e in enumerate(page.elements):
            cx, cy = (int(v) for v in e.center)
            crop = shot[int(e.top) : int(e.top + e.height), int(e.left) : int(e.left + e.width)]
            assert (crop != WHITE).any(), (task, seed, e)  # something is drawn in the box
            if e.tag in ("button", "a"):
                assert tuple(shot[cy, cx]) != WHITE, (task, seed, e)
            if e.tag.startswith("input_"):  # the border is on the box's edge
                assert tuple(shot[cy, int(e.left)]) != WHITE, (task, seed, e)
            # a click at the center hits this element (or, for a label, the input inside it)
            above = [o for o in page.elements[i + 1 :] if o.contains(cx + 0.5, cy + 0.5)]
            assert not above or (e.tag == "label" and above == [_box_of(e, page.elements, above[0].tag)])


def test_focus_and_check_are_drawn(backend: SyntheticBackend) -> None:
    page = backend.reset("click-checkboxes", 0)
    box = page.elements[1]
    after = backend.execute(GuiAction("click_element", ref=box.ref))
    assert after.elements[1].checked is True
    region = (slice(int(box.top), int(box.top + box.height)), slice(int(box.left), int(box.left + box.width)))
    assert not np.array_equal(page.screenshot[region], after.screenshot[region])
    page = backend.reset("enter-text", 0)
    field = page.elements[0]
    focused = backend.execute(GuiAction("click_element", ref=field.ref))
    assert focused.elements[0].focused and not np.array_equal(page.screenshot, focused.screenshot)
    typed = backend.execute(GuiAction("type", text="Hello"))
    assert typed.elements[0].value == "Hello" and not np.array_equal(typed.screenshot, focused.screenshot)


# --------------------------------------------------------------------------------------------
# Solvable, and wrong actions end the episode as MiniWoB does


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_solver_solves_every_task(backend: SyntheticBackend, task: str) -> None:
    solved = 0
    for seed in range(100):
        page = Solver(backend, by_point=seed % 2 == 0).solve(backend.reset(task, seed))
        solved += page.done and page.reward == 1.0
    assert solved >= 99, f"{task}: solved {solved}/100"


def _seed_where(backend: SyntheticBackend, task: str, ok) -> Page:
    for seed in range(200):
        page = backend.reset(task, seed)
        if ok(page):
            return page
    raise AssertionError(f"no seed of {task} fits")


def test_click_button_wrong_button(backend: SyntheticBackend) -> None:
    page = _seed_where(
        backend,
        "click-button",
        lambda p: any(e.tag == "button" and e.text != _quoted(p.instruction) for e in p.elements),
    )
    wrong = next(e for e in page.elements if e.tag == "button" and e.text != _quoted(page.instruction))
    out = backend.execute(GuiAction("click_element", ref=wrong.ref))
    assert out.done and out.reward == -1.0
    # clicking filler text or a filler field does nothing
    page = _seed_where(backend, "click-button", lambda p: any(e.tag != "button" for e in p.elements))
    other = next(e for e in page.elements if e.tag != "button")
    assert not backend.execute(GuiAction("click_element", ref=other.ref)).done


def test_click_checkboxes_rewards(backend: SyntheticBackend) -> None:
    page = _seed_where(backend, "click-checkboxes", lambda p: "nothing" not in p.instruction)
    n = sum(e.tag == "input_checkbox" for e in page.elements)
    # submitting at once: the unticked boxes that should be ticked are wrong
    words = re.fullmatch(r"Select (.*) and click Submit\.", page.instruction).group(1).split(", ")
    out = backend.execute(GuiAction("click_element", ref=page.elements[-1].ref))
    assert out.done and out.reward == pytest.approx((n - 2 * len(words)) / n)
    # every box wrong -> -1
    page = backend.reset("click-checkboxes", page_seed := 11)
    words = re.fullmatch(r"Select (.*) and click Submit\.", page.instruction).group(1)
    wanted = set() if words == "nothing" else set(words.split(", "))
    for label in [e for e in page.elements if e.tag == "label"]:
        if label.text not in wanted:
            backend.execute(GuiAction("click_element", ref=label.ref))
    out = backend.execute(GuiAction("click_element", ref=page.elements[-1].ref))
    assert out.done and out.reward == -1.0, page_seed
    # clicking the label and then the box toggles twice
    page = backend.reset("click-checkboxes", 3)
    backend.execute(GuiAction("click_element", ref=1))
    assert backend.execute(GuiAction("click_element", ref=2)).elements[1].checked is False


def test_enter_text_rewards(backend: SyntheticBackend) -> None:
    page = backend.reset("enter-text", 0)
    name = _quoted(page.instruction)
    field, submit = page.elements
    backend.execute(GuiAction("click", x=field.center[0], y=field.center[1]))
    backend.execute(GuiAction("type", text=name.lower()))  # compared with ===: case matters
    out = backend.execute(GuiAction("click_element", ref=submit.ref))
    assert out.done and out.reward == -1.0
    # an empty field is wrong too
    backend.reset("enter-text", 0)
    assert backend.execute(GuiAction("click_element", ref=2)).reward == -1.0


def test_typing_and_keys(backend: SyntheticBackend) -> None:
    page = backend.reset("enter-text", 1)
    assert backend.execute(GuiAction("type", text="abc")).elements[0].value == ""  # nothing focused
    backend.execute(GuiAction("click_element", ref=1))
    backend.execute(GuiAction("type", text="Kenda"))
    page = backend.execute(GuiAction("press", key="Backspace"))
    assert page.elements[0].value == "Kend" and page.elements[0].focused
    page = backend.execute(GuiAction("press", key="Enter"))  # nothing in a text field
    assert not page.done and page.elements[0].value == "Kend"
    page = backend.execute(GuiAction("press", key="F5"))  # unknown keys do nothing
    assert not page.done and page.elements[0].value == "Kend"
    backend.execute(GuiAction("press", key="Control+a"))
    page = backend.execute(GuiAction("type", text="Joye"))  # replaces the selection
    assert page.elements[0].value == "Joye"
    page = backend.execute(GuiAction("press", key="x"))  # a character types itself
    assert page.elements[0].value == "Joyex"
    # a click on empty space takes the focus away: typing goes nowhere
    page = backend.execute(GuiAction("click", x=150, y=200))
    assert not page.elements[0].focused
    assert backend.execute(GuiAction("type", text="zz")).elements[0].value == "Joyex"
    # Tab moves the focus through the field and the button; Enter on the button clicks it
    backend.execute(GuiAction("press", key="Tab"))
    page = backend.execute(GuiAction("press", key="Tab"))
    assert page.elements[1].focused
    page = backend.execute(GuiAction("press", key="Enter"))
    assert page.done and page.reward == -1.0


def test_focus_text(backend: SyntheticBackend) -> None:
    backend.reset("focus-text", 0)
    assert not backend.execute(GuiAction("click", x=159, y=60)).done
    page = backend.execute(GuiAction("press", key="Tab"))  # focusing by keyboard counts too
    assert page.done and page.reward == 1.0


def test_click_link_wrong_link(backend: SyntheticBackend) -> None:
    page = _seed_where(
        backend, "click-link", lambda p: any(e.text != _quoted(p.instruction) for e in p.elements)
    )
    wrong = next(e for e in page.elements if e.text != _quoted(page.instruction))
    out = backend.execute(GuiAction("click", x=wrong.center[0], y=wrong.center[1]))
    assert out.done and out.reward == -1.0


def test_other_tasks_wrong_actions(backend: SyntheticBackend) -> None:
    page = backend.reset("click-tab", 0)
    wrong = next(e for e in page.elements if e.tag == "a" and e.text not in page.instruction)
    assert backend.execute(GuiAction("click_element", ref=wrong.ref)).reward == -1.0
    page = backend.reset("click-option", 0)
    word = re.fullmatch(r"Select (.*) and click Submit\.", page.instruction).group(1)
    other = next(e for e in page.elements if e.tag == "label" and e.text != word)
    backend.execute(GuiAction("click_element", ref=other.ref))
    assert backend.execute(GuiAction("click_element", ref=page.elements[-1].ref)).reward == -1.0
    page = backend.reset("enter-password", 0)
    backend.execute(GuiAction("click_element", ref=page.elements[1].ref))
    backend.execute(GuiAction("type", text=_quoted(page.instruction)))
    out = backend.execute(GuiAction("click_element", ref=page.elements[-1].ref))  # verify left empty
    assert out.done and out.reward == -1.0
    backend.reset("click-dialog", 0)
    assert backend.execute(GuiAction("press", key="Enter")).reward == 1.0  # the close button starts focused
    page = backend.reset("click-dialog", 0)
    text = next(e for e in page.elements if e.tag == "p")
    assert not backend.execute(GuiAction("click_element", ref=text.ref)).done
    assert not backend.execute(GuiAction("press", key="Enter")).done  # the click took the focus away


def test_click_test_ignores_misses(backend: SyntheticBackend) -> None:
    page = backend.reset("click-test", 0)
    button = page.elements[0]
    x = 1 if button.left > 2 else 158
    assert not backend.execute(GuiAction("click", x=x, y=205)).done
    assert not backend.execute(GuiAction("click", x=80, y=10)).done  # the instruction band
    assert not backend.execute(GuiAction("scroll", x=80, y=100, direction="down")).done


# --------------------------------------------------------------------------------------------
# Invalid targets, and actions after the end


def test_target_errors(backend: SyntheticBackend) -> None:
    page = backend.reset("enter-text", 0)
    with pytest.raises(TargetError) as err:
        backend.execute(GuiAction("click_element", ref=9))
    assert str(err.value) == "no element with ref 9 on this page (refs: 1-2)"
    with pytest.raises(TargetError, match=r"\(170, 20\) is outside the 160x210 screen"):
        backend.execute(GuiAction("click", x=170, y=20))
    with pytest.raises(TargetError, match="outside"):
        backend.execute(GuiAction("scroll", x=-1, y=20, direction="up"))
    after = backend.execute(GuiAction("scroll", x=10, y=20, direction="up"))
    assert after.elements == page.elements and np.array_equal(after.screenshot, page.screenshot)


def test_max_elements_caps_the_listing() -> None:
    backend = SyntheticBackend(max_elements=3)
    page = backend.reset("click-checkboxes", 0)
    assert len(page.elements) == 3
    with pytest.raises(TargetError, match=r"\(refs: 1-3\)"):
        backend.execute(GuiAction("click_element", ref=4))
    with pytest.raises(ValueError):
        SyntheticBackend(max_elements=0)


def test_actions_after_done_return_the_done_page(backend: SyntheticBackend) -> None:
    page = backend.reset("click-test", 0)
    done = backend.execute(GuiAction("click_element", ref=page.elements[0].ref))
    assert done.done and done.reward == 1.0
    assert backend.execute(GuiAction("click_element", ref=99)) is done
    assert backend.execute(GuiAction("type", text="x")) is done
    assert backend.reset("click-test", 0).done is False


def test_fast(backend: SyntheticBackend) -> None:
    resets, steps = [], []
    for seed in range(30):
        for task in SYNTHETIC_TASKS:
            t0 = time.perf_counter()
            backend.reset(task, seed)
            t1 = time.perf_counter()
            backend.execute(GuiAction("click", x=80, y=30))
            steps.append(time.perf_counter() - t1)
            resets.append(t1 - t0)
    # ~1 ms each on a laptop core; the bound only catches gross regressions on a loaded machine
    assert statistics.median(resets) < 0.03 and statistics.median(steps) < 0.03


# --------------------------------------------------------------------------------------------
# DOM-like refs (refs="dom"): spaced like MiniWoB's, the page otherwise the same


def test_widget_refs_hand_worked() -> None:
    assert widget_refs(4, 0, "click-button") == [1, 2, 3, 4]
    refs = widget_refs(50, 7, "click-button", "dom")
    gaps = np.diff(refs)
    assert 3 <= refs[0] <= 8 and set(gaps.tolist()) == {1, 2, 3}  # 49 gaps drawn from {1, 2, 3}
    assert refs == widget_refs(50, 7, "click-button", "dom")  # a function of (task, seed)
    assert refs != widget_refs(50, 8, "click-button", "dom")
    assert widget_refs(0, 7, "click-button", "dom") == []
    with pytest.raises(ValueError, match="unknown refs mode 'xpath'; choose one of sequential, dom"):
        widget_refs(3, 0, "click-button", "xpath")


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_dom_refs_change_only_the_numbers(task: str) -> None:
    seq, dom = SyntheticBackend(), SyntheticBackend(refs="dom")
    for seed in range(10):
        a, b = seq.reset(task, seed), dom.reset(task, seed)
        assert np.array_equal(a.screenshot, b.screenshot) and a.instruction == b.instruction
        assert [(e.tag, e.text, e.left, e.top) for e in a.elements] == [
            (e.tag, e.text, e.left, e.top) for e in b.elements
        ]
        assert [e.ref for e in b.elements] == widget_refs(len(b.elements), seed, task, "dom")


def test_dom_refs_click_by_ref_and_name_the_valid_refs() -> None:
    backend = SyntheticBackend(refs="dom")
    page = backend.reset("click-test", 3)
    (button,) = page.elements
    assert button.ref != 1
    with pytest.raises(TargetError) as err:
        backend.execute(GuiAction("click_element", ref=1))
    assert str(err.value) == f"no element with ref 1 on this page (refs: {button.ref}-{button.ref})"
    page = backend.execute(GuiAction("click_element", ref=button.ref))
    assert page.done and page.reward == 1.0
    seed = next(s for s in range(50) if np.diff(widget_refs(2, s, "enter-text", "dom"))[0] > 1)
    refs = [e.ref for e in backend.reset("enter-text", seed).elements]
    with pytest.raises(TargetError, match=rf"\(refs: {refs[0]}, {refs[1]}\)"):
        backend.execute(GuiAction("click_element", ref=0))
    with pytest.raises(ValueError, match="unknown refs mode"):
        SyntheticBackend(refs="xpath")
