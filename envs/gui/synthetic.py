"""A synthetic GUI backend: MiniWoB++ task pages re-made in Python and drawn with PIL.

No browser: a page is a list of widgets laid out like the browser lays out the MiniWoB++ task
HTML (the 160x210 ``#wrap``, the instruction in the yellow 50-px ``#query`` band at the top,
the task below it in ``#area``), drawn with PIL's default font. Each task copies its MiniWoB++
namesake (``miniwob/html/miniwob/<task>.html``): the same random generation (word lists,
counts and positions, with numpy's ``default_rng((crc32(task), seed))`` for ``Math.random``), the same
utterance, the same elements and the same reward on the same events. One instance per
``(task, seed)``; there is no clock, so :attr:`Page.time_reward` is None.

Elements follow MiniWoB's DOM conventions (``getDOMInfo`` in ``core.js``): the lower-case
tag, inputs as ``input_<type>``; buttons are ``button`` with their label as text; text fields
``input_text`` (``input_password``) with their ``value``; a checkbox or radio drawn inside a
``<label>`` is listed as the ``label`` (text = its word) followed by the ``input_checkbox`` /
``input_radio`` (text ``""``, ``checked``), the input's box inside the label's; ``classes`` is
the element's CSS class attribute where the task HTML sets one (``alink``,
``secondary-action``, jQuery UI's). Refs count 1, 2, ... in reading order and stay fixed for the
episode; with ``refs="dom"`` they are spaced like a MiniWoB page's DOM refs instead (first one
3-8, gaps of 1-3 for the unlisted containers between), so that a policy must copy an element's
ref from its line, not count lines. The raw reward is the task's ``core.endEpisode`` reward: 1
solved, -1 failed, partial credit where MiniWoB gives it (click-checkboxes).

Tasks (utterance; what ends the episode -> reward):

- ``click-test``: ``Click the button.`` One ``button`` "Click Me!", a random square
  (35-99 px) at a random position. Clicking it -> 1. Nothing else ends the episode.
- ``click-button``: ``Click on the "<label>" button.`` Six random items in a column:
  filler ``div`` text, ``span`` "words:" + ``input_text``, or a ``button`` labelled one of
  submit/okay/ok/yes/no/cancel/next/previous (capitalised half of the time; at least one
  button). A button with the target label -> 1; any other button -> -1.
- ``click-checkboxes``: ``Select <w1>, <w2> and click Submit.`` (the words joined by
  ``", "``; ``Select nothing and click Submit.`` when none). 2-6 checkboxes labelled with
  random 2-7 character alphanumeric words, each to select with probability 1/2, then the
  ``button`` "Submit". Clicking the label or the box toggles it. Submit -> ``sum(+1 per box
  right, -1 per box wrong) / n``: 1 only when exactly the named boxes are checked, -1 when
  every box is wrong.
- ``enter-text``: ``Enter "<name>" into the text field and press Submit.`` (a name from
  MiniWoB's fifty names). An ``input_text`` and the ``button`` "Submit", shifted 0-19 px.
  Submit -> 1 if the field's value is exactly the name (case-sensitive, ``===``), else -1.
- ``focus-text``: ``Focus into the textbox.`` One ``input_text`` 0-19 px from the left,
  0-139 px down. Focusing it (a click, or Tab) -> 1.
- ``click-link``: ``Click on the link "<word>".`` Twenty lorem-ipsum words (sentence case,
  punctuation kept) in a paragraph; each word is a link (``span``, classes ``alink``, blue,
  underlined) with probability 0.2, at least one. A link with the target text -> 1, another
  link -> -1. Plain words are not listed.
- ``click-option``: ``Select <word> and click Submit.`` 2-6 radio buttons (``label`` +
  ``input_radio``) with random words, then "Submit". Submit -> 1 if the named radio is
  checked, else -1.
- ``enter-password``: ``Enter the password "<pw>" into both text fields and press submit.``
  (pw: 2-5 random alphanumerics). ``label`` "Password" + ``input_password``, ``label`` "Verify
  password" + ``input_password``, "Submit" (values listed in clear, drawn as dots). Submit -> 1
  if both values equal pw, else -1.
- ``click-dialog``: ``Close the dialog box by clicking the "x".`` A jQuery UI dialog (a ``p``
  of 4-7 words) at a random place and size; its close button is a ``button`` with text
  "Close" (jQuery UI's hidden label) and classes ``ui-button ... ui-dialog-titlebar-close``,
  drawn as an "x" in the title bar, and starts focused (jQuery UI focuses it on open). Clicking
  it -> 1. Nothing else ends the episode.
- ``click-tab``: ``Click on Tab #<n>.`` (n in 1-3). Three jQuery UI tabs (``a`` "Tab #1".."Tab
  #3", classes ``ui-tabs-anchor``), another one active, its panel a ``p`` of 20 words. The
  named tab -> 1, another tab -> -1.

Actions: ``click`` hits the topmost element containing the point (clicking a label toggles its
checkbox / picks its radio; a click on no element only takes the focus away); ``click_element``
clicks an element's center; ``type`` appends to the focused text field (nothing when none is
focused); ``press`` knows Backspace, Delete (after Control+a), Control+a / Meta+a (select the
field's text), Tab / Shift+Tab (move the focus), Enter (clicks a focused button or link, like a
browser; nothing in a text field), Space (clicks a focused button, checkbox or radio) and single
characters (typed); other keys do nothing; ``scroll`` is valid anywhere on the screen and scrolls
nothing. After the episode ends every action returns the same done page.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from embodied_rl.envs.gui.base import BACKENDS, Element, GuiAction, GuiBackend, Page, TargetError
from PIL import Image, ImageDraw, ImageFont

__all__ = ["SYNTHETIC_TASKS", "SyntheticBackend", "TASK_UTTERANCES"]

WIDTH, HEIGHT = 160, 210
QUERY_HEIGHT = 50  # #query: 44 px + 2 * 3 px padding
AREA_LEFT, AREA_TOP, AREA_RIGHT, AREA_BOTTOM = 2, 52, 158, 208  # #area, 2 px padding
LINE = 12  # line height of 10-px text
TEXT_SIZE, WIDGET_SIZE = 10, 11  # font sizes: page text, button and input text
BUTTON_H, INPUT_H = 18, 18

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
YELLOW = (255, 255, 0)
GREY_FILL = (239, 239, 239)
GREY_LINE = (118, 118, 118)
LIGHT_LINE = (197, 197, 197)
BLUE = (0, 0, 238)
FOCUS = (0, 95, 204)
CHECK_BLUE = (0, 117, 255)
TAB_ACTIVE = (0, 127, 255)
TITLE_FILL = (233, 233, 233)

# Word lists of miniwob/html/common/ui_utils.js and the tasks' own lists.
FIFTY_NAMES = (
    "Kenda Karrie Joye Cheree Deneen Tula Briana Beaulah Vina Vanda Cierra Leonie Bernardine Keli "
    "Renda Marcella Kanesha Enola Nathalie Annis Nieves Lyda Livia Kasie Tora Macie Agustina Dolores "
    "Ashlea Cristin Jerald Teodoro Rex Riley Jess Emile Donovan Keneth Chas Thaddeus Sergio Michel "
    "Myron Olin Dannie Juan Alan Ignacio Truman Augus"
).split()
LOREM_WORDS = (
    "lorem ipsum dolor sit amet, consectetur adipiscing elit ut aliquam, purus sit amet luctus "
    "venenatis, lectus magna fringilla urna, porttitor rhoncus dolor purus non enim praesent "
    "elementum facilisis leo, vel fringilla est ullamcorper eget nulla facilisi etiam dignissim diam "
    "quis enim lobortis scelerisque fermentum dui faucibus in ornare quam viverra orci sagittis eu "
    "volutpat odio facilisis mauris sit amet massa vitae tortor condimentum lacinia quis vel eros "
    "donec ac odio tempor orci dapibus ultrices in iaculis nunc sed augue lacus, viverra vitae congue "
    "eu, consequat ac felis donec et odio pellentesque diam volutpat commodo sed egestas egestas "
    "fringilla phasellus faucibus scelerisque eleifend donec pretium vulputate sapien nec sagittis "
    "aliquam malesuada bibendum arcu vitae elementum curabitur vitae nunc sed velit dignissim sodales "
    "ut eu sem integer vitae justo eget magna fermentum iaculis eu non diam phasellus vestibulum lorem "
    "sed risus ultricies tristique nulla aliquet enim tortor, at auctor urna nunc id cursus metus "
    "aliquam eleifend mi in nulla posuere sollicitudin aliquam ultrices sagittis orci, a scelerisque "
    "purus semper eget duis at tellus at urna condimentum mattis pellentesque id nibh tortor, id "
    "aliquet lectus proin nibh nisl, condimentum id venenatis a, condimentum vitae sapien "
    "pellentesque habitant morbi tristique senectus et netus et malesuada fames ac turpis egestas sed "
    "tempus, urna et pharetra pharetra, massa massa ultricies mi, quis hendrerit dolor magna eget est "
    "gravida quis blandit turpis cursus in hac habitasse platea dictumst quisque sagittis, purus sit "
    "amet volutpat consequat, mauris nunc congue nisi, vitae suscipit tellus mauris a diam maecenas "
    "sed enim ut sem viverra aliquet eget sit amet tellus cras adipiscing enim eu turpis egestas "
    "pretium aenean pharetra, magna ac placerat vestibulum, lectus mauris ultrices eros, in cursus "
    "turpis massa tincidunt dui ut ornare lectus sit amet est placerat in egestas erat imperdiet sed "
    "euismod nisi porta lorem mollis aliquam ut porttitor leo a diam sollicitudin tempor id eu nisl "
    "nunc mi ipsum, faucibus vitae aliquet nec, ullamcorper sit amet risus nullam eget felis eget nunc "
    "lobortis mattis aliquam faucibus purus in massa tempor nec feugiat nisl pretium fusce id velit ut "
    "tortor pretium viverra suspendisse potenti nullam ac tortor vitae purus faucibus ornare "
    "suspendisse sed nisi lacus, sed viverra tellus in hac habitasse platea dictumst vestibulum "
    "rhoncus est pellentesque elit ullamcorper dignissim cras tincidunt lobortis feugiat vivamus at "
    "augue eget arcu dictum varius duis at consectetur lorem donec massa sapien, faucibus et molestie "
    "ac, feugiat sed lectus vestibulum mattis ullamcorper velit sed ullamcorper morbi tincidunt ornare "
    "massa, eget egestas purus viverra accumsan in nisl nisi, scelerisque eu ultrices vitae, auctor eu "
    "augue ut lectus arcu, bibendum at varius vel, pharetra vel turpis nunc eget lorem dolor, sed "
    "viverra ipsum nunc aliquet bibendum enim, facilisis gravida neque convallis a cras semper auctor "
    "neque, vitae tempus quam pellentesque nec nam aliquam sem et tortor consequat id porta nibh "
    "venenatis cras sed felis eget velit aliquet sagittis id consectetur purus ut faucibus pulvinar "
    "elementum integer enim neque, volutpat ac tincidunt vitae, semper quis lectus nulla at volutpat "
    "diam ut venenatis tellus in metus vulputate eu scelerisque felis imperdiet proin fermentum leo "
    "vel orci porta non pulvinar neque laoreet suspendisse interdum consectetur libero, id faucibus "
    "nisl tincidunt eget nullam non nisi est, sit amet facilisis magna etiam tempor, orci eu lobortis "
    "elementum, nibh tellus molestie nunc, non blandit massa enim nec dui nunc mattis enim ut tellus "
    "elementum sagittis vitae et leo duis ut diam quam nulla porttitor massa id neque aliquam "
    "vestibulum morbi blandit cursus risus, at ultrices mi tempus imperdiet nulla malesuada "
    "pellentesque elit eget gravida cum sociis natoque penatibus et magnis dis parturient montes, "
    "nascetur ridiculus mus mauris vitae ultricies leo integer malesuada nunc vel risus commodo "
    "viverra maecenas accumsan, lacus vel facilisis volutpat, est velit egestas dui, id ornare arcu "
    "odio ut sem nulla pharetra diam sit amet nisl suscipit adipiscing bibendum est ultricies integer "
    "quis auctor elit sed vulputate mi sit amet mauris commodo quis imperdiet massa tincidunt nunc "
    "pulvinar sapien et ligula ullamcorper malesuada proin libero nunc, consequat interdum varius sit "
    "amet, mattis vulputate enim nulla aliquet porttitor lacus, luctus accumsan tortor posuere ac ut "
    "consequat semper viverra nam libero justo, laoreet sit amet cursus sit amet, dictum sit amet "
    "justo donec enim diam, vulputate ut pharetra sit amet, aliquam id diam maecenas ultricies mi eget "
    "mauris pharetra et ultrices neque ornare aenean euismod elementum nisi, quis eleifend quam "
    "adipiscing vitae proin sagittis, nisl rhoncus mattis rhoncus, urna neque viverra justo, nec "
    "ultrices dui sapien eget mi proin sed libero enim, sed faucibus turpis in eu mi bibendum neque "
    "egestas congue quisque egestas diam in arcu cursus euismod quis viverra nibh cras pulvinar mattis "
    "nunc, sed blandit libero volutpat sed cras ornare arcu dui vivamus arcu felis, bibendum ut "
    "tristique et, egestas quis ipsum suspendisse ultrices gravida dictum fusce ut placerat orci nulla "
    "pellentesque dignissim enim, sit amet venenatis urna cursus eget nunc scelerisque viverra mauris, "
    "in aliquam sem fringilla ut morbi tincidunt augue interdum velit euismod in pellentesque massa "
    "placerat duis ultricies lacus sed turpis tincidunt id aliquet risus feugiat in ante metus, dictum "
    "at tempor commodo, ullamcorper a lacus vestibulum sed arcu non odio euismod lacinia at quis risus "
    "sed vulputate odio ut enim blandit volutpat maecenas volutpat blandit aliquam etiam erat velit, "
    "scelerisque in dictum non, consectetur a erat nam at lectus urna duis convallis convallis tellus, "
    "id interdum velit laoreet id donec ultrices tincidunt arcu, non sodales neque sodales ut etiam "
    "sit amet nisl purus, in mollis nunc sed id semper risus in hendrerit gravida rutrum quisque non "
    "tellus orci, ac auctor augue mauris augue neque, gravida in fermentum et, sollicitudin ac orci "
    "phasellus egestas tellus rutrum tellus pellentesque eu tincidunt tortor aliquam nulla facilisi "
    "cras fermentum, odio eu feugiat pretium, nibh ipsum consequat nisl, vel pretium lectus quam id "
    "leo in vitae turpis massa sed elementum tempus egestas sed sed risus pretium quam vulputate "
    "dignissim suspendisse in est ante in nibh mauris, cursus mattis molestie a, iaculis at erat"
).split()
ALPHANUMERIC = "qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM1234567890"
BUTTON_LABELS = ("submit", "okay", "ok", "yes", "no", "cancel", "next", "previous")

TASK_UTTERANCES = {
    "click-test": "Click the button.",
    "click-button": 'Click on the "{label}" button.',
    "click-checkboxes": "Select {words} and click Submit.",
    "enter-text": 'Enter "{name}" into the text field and press Submit.',
    "focus-text": "Focus into the textbox.",
    "click-link": 'Click on the link "{word}".',
    "click-option": "Select {word} and click Submit.",
    "enter-password": 'Enter the password "{password}" into both text fields and press submit.',
    "click-dialog": 'Close the dialog box by clicking the "x".',
    "click-tab": "Click on Tab #{n}.",
}
"""Each task's utterance template (MiniWoB's ``#query`` text; click-checkboxes joins the words
with ``", "`` and says ``nothing`` when there are none)."""


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's default font at ``size`` px (the bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size: int) -> int:
    return int(round(_font(size).getlength(text)))


def _wrap(text: str, size: int, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` px (a too-long word gets a line of its own)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if line and _text_width(trial, size) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    if line:
        lines.append(line)
    return lines


# --------------------------------------------------------------------------------------------
# Page model


@dataclass(eq=False)
class _Widget:
    """One element on the page: what it lists (tag, text, value, ...) and how it is drawn."""

    tag: str
    text: str
    left: int
    top: int
    width: int
    height: int
    style: str  # button, input, checkbox, radio, label, link, text, tab, close
    value: str = ""
    checked: bool | None = None
    classes: str = ""
    role: str = ""  # what the task made it for; never shown
    control: _Widget | None = None  # a label's checkbox / radio
    group: str = ""  # radio group
    lines: tuple[tuple[int, int, str], ...] = ()  # text runs (x, y, text) in page pixels
    active: bool = False  # the selected tab
    ref: int = 0

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height

    @property
    def center(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2

    @property
    def focusable(self) -> bool:
        return self.tag.startswith("input_") or self.tag in ("button", "a")

    @property
    def editable(self) -> bool:
        return self.tag in ("input_text", "input_password")


@dataclass
class _Scene:
    """A task instance: the utterance, the widgets in reading (and drawing) order, the state."""

    instruction: str
    widgets: list[_Widget]
    decor: list[tuple] = field(default_factory=list)  # drawn under the widgets
    focus: _Widget | None = None
    selected_all: bool = False  # Control+a in the focused field
    done: bool = False
    reward: float = 0.0
    answer: object = None  # what the task checks against

    def end(self, reward: float) -> None:
        self.done = True
        self.reward = float(reward)


class _Rand:
    """``core.randi`` / ``core.randf`` / ``core.sample`` of MiniWoB on a numpy generator."""

    def __init__(self, seed: int, task: str = "") -> None:
        # The task name is mixed in so that one seed gives unrelated instances of two tasks.
        self.rng = np.random.default_rng([zlib.crc32(task.encode()), int(seed) % 2**64])

    def randi(self, low: int, high: int) -> int:
        """An integer in ``[low, high)``."""
        return int(self.rng.integers(low, high))

    def randf(self) -> float:
        return float(self.rng.random())

    def sample(self, items):
        return items[self.randi(0, len(items))]

    def string(self, low: int, high: int) -> str:
        """``ui_utils.generateString``: ``randi(low, high)`` alphanumerics."""
        return "".join(self.sample(ALPHANUMERIC) for _ in range(self.randi(low, high)))

    def words(self, low: int, high: int | None = None) -> str:
        """``ui_utils.generateWords``: lorem words in sentences, ending with a full stop."""
        n = low if high is None else self.randi(low, high)
        out, first = [], True
        for i in range(n):
            word = self.sample(LOREM_WORDS)
            if first:
                word, first = word[:1].upper() + word[1:], False
            if self.randf() < 0.2 and i + 1 < n:
                out.append(word + ".")
                first = True
            elif i + 1 == n:
                out.append(word.replace(",", "", 1))
            else:
                out.append(word)
        return " ".join(out) + "."


class _Flow:
    """Inline layout: items left to right, wrapping at ``right``; ``br`` and blocks end lines."""

    def __init__(self, left: int = AREA_LEFT, top: int = AREA_TOP, right: int = AREA_RIGHT) -> None:
        self.left, self.right = left, right
        self.x, self.y = left, top
        self.line_h = 0

    def place(self, width: int, height: int, gap: int = 0) -> tuple[int, int]:
        """Top-left of the next ``width`` x ``height`` item (on a new line if it does not fit)."""
        if self.x > self.left and self.x + width > self.right:
            self.end_line()
        x, y = self.x, self.y
        self.x += width + gap
        self.line_h = max(self.line_h, height)
        return x, y

    def end_line(self) -> None:
        """End the current line if it has anything on it (a block boundary)."""
        if self.x > self.left or self.line_h:
            self.y += self.line_h or LINE
        self.x, self.line_h = self.left, 0

    def br(self) -> None:
        """``<br>``: end the line; on an empty line, an empty line of text height."""
        if self.x == self.left and not self.line_h:
            self.y += LINE
        else:
            self.end_line()

    def words(self, text: str, size: int = TEXT_SIZE) -> list[tuple[int, int, str]]:
        """Place ``text`` word by word; returns the runs ``(x, y, word)``."""
        space = max(3, _text_width(" ", size))
        return [(*self.place(_text_width(w, size), LINE, gap=space), w) for w in text.split()]

    @property
    def bottom(self) -> int:
        return self.y + self.line_h


def _button_size(text: str, big: bool = False) -> tuple[int, int]:
    return _text_width(text, WIDGET_SIZE) + (50 if big else 14), 26 if big else BUTTON_H


def _button(text: str, x: int, y: int, *, big: bool = False, classes: str = "", role: str = "") -> _Widget:
    """A ``<button>``; ``big`` is MiniWoB's ``secondary-action`` (6 px x 25 px padding)."""
    width, height = _button_size(text, big)
    return _Widget("button", text, x, y, width, height, "button", classes=classes, role=role)


def _input(x: int, y: int, width: int, *, tag: str = "input_text", role: str = "field") -> _Widget:
    """A text field whose CSS width is ``width`` (plus 2 px padding and 1 px border a side)."""
    return _Widget(tag, "", x, y, width + 6, INPUT_H, "input", role=role)


# --------------------------------------------------------------------------------------------
# Tasks


class _Task:
    """One MiniWoB task: how to make an instance, and what clicks and focus do to it."""

    name = ""
    max_tries = 50  # regenerate an instance that would overflow the screen

    def generate(self, rand: _Rand) -> _Scene:
        raise NotImplementedError

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        """``widget`` was clicked (after the generic effects: focus, toggles)."""

    def on_focus(self, scene: _Scene, widget: _Widget) -> None:
        """``widget`` got the keyboard focus."""

    def make(self, seed: int, refs: str = "sequential") -> _Scene:
        rand = _Rand(seed, self.name)
        for _ in range(self.max_tries):
            scene = self.generate(rand)
            if all(
                w.top >= 0 and w.top + w.height <= HEIGHT and w.left + w.width <= WIDTH for w in scene.widgets
            ):
                break
        for ref, widget in zip(
            widget_refs(len(scene.widgets), seed, self.name, refs), scene.widgets, strict=True
        ):
            widget.ref = ref
        return scene


REF_MODES = ("sequential", "dom")
"""How the synthetic backend numbers elements (``SyntheticBackend(refs=...)``)."""


def check_ref_mode(mode: str) -> None:
    """Raise a ValueError naming the choices unless ``mode`` is one of :data:`REF_MODES`."""
    if mode not in REF_MODES:
        raise ValueError(f"unknown refs mode {mode!r}; choose one of {', '.join(REF_MODES)}")


def widget_refs(n: int, seed: int, task: str, mode: str = "sequential") -> list[int]:
    """Refs of a page's ``n`` elements in reading order.

    ``sequential``: ``1, 2, ..., n``. ``dom``: ``r_1 = 3 + u_0``, ``r_k = r_{k-1} + 1 + u_k`` with
    ``u_0`` uniform in ``{0..5}`` and ``u_k`` in ``{0, 1, 2}``, like MiniWoB's DOM refs, where the
    page's containers (``body``, ``#wrap``, ``#query``, ...) and unlisted elements take numbers
    between the listed ones. Drawn from their own generator, so the page is the same in both modes.
    """
    check_ref_mode(mode)
    if mode == "sequential":
        return list(range(1, n + 1))
    rng = _Rand(seed, f"refs:{task}").rng
    steps = np.concatenate([[3 + rng.integers(0, 6)], 1 + rng.integers(0, 3, size=max(n - 1, 0))])
    return [int(r) for r in np.cumsum(steps)[:n]]


class ClickTest(_Task):
    name = "click-test"

    def generate(self, rand: _Rand) -> _Scene:
        size = rand.randi(35, 100)
        left = rand.randi(0, 160 - size - 2)
        top = rand.randi(0, 160 - size - 2)
        button = _Widget("button", "Click Me!", AREA_LEFT + left, AREA_TOP + top, size, size, "button")
        return _Scene(TASK_UTTERANCES[self.name], [button])

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.tag == "button":
            scene.end(1.0)


class ClickButton(_Task):
    name = "click-button"

    def generate(self, rand: _Rand) -> _Scene:
        flow, widgets = _Flow(), []
        buttons: list[_Widget] = []
        num = 6
        for i in range(num):
            u = rand.randf()
            must_make_button = i == num - 1 and not buttons
            if u < 0.33 and not must_make_button:
                text = " ".join(rand.sample(LOREM_WORDS) for _ in range(3))
                flow.end_line()
                runs = flow.words(text)
                flow.end_line()
                widgets.append(_text_widget("div", text, runs))
            elif u < 0.66 and not must_make_button:
                if rand.randf() < 0.5:
                    text = " ".join(rand.sample(LOREM_WORDS) for _ in range(3)) + ":"
                    flow.end_line()  # (the browser may start it beside a button; boxes stay apart)
                    widgets.append(_text_widget("span", text, flow.words(text)))
                width = rand.randi(40, 150)
                x, y = flow.place(width + 6, INPUT_H)
                widgets.append(_input(x, y, width, role="filler"))
                flow.br()
            else:
                label = rand.sample(BUTTON_LABELS)
                if rand.randf() < 0.5:
                    label = label[:1].upper() + label[1:]
                w, h = _button_size(label)
                x, y = flow.place(w, h, gap=2)
                button = _button(label, x, y)
                widgets.append(button)
                buttons.append(button)
                if rand.randf() < 0.5:
                    flow.br()
        correct = rand.sample(buttons).text
        return _Scene(TASK_UTTERANCES[self.name].format(label=correct), widgets, answer=correct)

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.tag == "button":
            scene.end(1.0 if widget.text == scene.answer else -1.0)


def _text_widget(tag: str, text: str, runs: list[tuple[int, int, str]], size: int = TEXT_SIZE) -> _Widget:
    """A listed text element (``div``, ``span``, ``p``) covering its word runs."""
    left = min(x for x, _, _ in runs)
    top = min(y for _, y, _ in runs)
    right = max(x + _text_width(w, size) for x, _, w in runs)
    bottom = max(y for _, y, _ in runs) + LINE
    return _Widget(
        tag, " ".join(text.split()), left, top, right - left, bottom - top, "text", lines=tuple(runs)
    )


def _labelled_choices(rand: _Rand, n: int, kind: str) -> tuple[list[_Widget], list[str], _Flow]:
    """``n`` ``<label><input type=kind>word</label><br>`` rows; returns widgets, words, flow."""
    flow, widgets, words = _Flow(), [], []
    tag = "input_checkbox" if kind == "checkbox" else "input_radio"
    for _ in range(n):
        word = rand.string(2, 8)
        words.append(word)
        text_w = _text_width(word, TEXT_SIZE)
        x, y = flow.place(20 + text_w, 17)  # box: 13 px + 4 px / 3 px margins
        box = _Widget(
            tag, "", x + 4, y + 2, 13, 13, kind, checked=False, group="radio" if kind == "radio" else ""
        )
        label = _Widget(
            "label", word, x, y, 20 + text_w, 17, "label", control=box, lines=((x + 20, y + 3, word),)
        )
        widgets += [label, box]
        flow.br()
    return widgets, words, flow


class ClickCheckboxes(_Task):
    name = "click-checkboxes"

    def generate(self, rand: _Rand) -> _Scene:
        widgets, words, flow = _labelled_choices(rand, rand.randi(2, 7), "checkbox")
        targets = []
        for word, box in zip(words, widgets[1::2], strict=True):
            box.role = "want" if rand.randf() < 0.5 else "skip"
            if box.role == "want":
                targets.append(word)
        flow.end_line()
        flow.br()  # the <br> between #boxes and the button
        w, h = _button_size("Submit", big=True)
        x, y = flow.place(w, h)
        widgets.append(_button("Submit", x, y, big=True, classes="secondary-action", role="submit"))
        words = ", ".join(targets) or "nothing"
        return _Scene(TASK_UTTERANCES[self.name].format(words=words), widgets)

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.role == "submit":
            boxes = [w for w in scene.widgets if w.tag == "input_checkbox"]
            score = sum(1.0 if w.checked == (w.role == "want") else -1.0 for w in boxes)
            scene.end(score / len(boxes))


class ClickOption(_Task):
    name = "click-option"

    def generate(self, rand: _Rand) -> _Scene:
        n = rand.randi(2, 7)
        widgets, words, flow = _labelled_choices(rand, n, "radio")
        index = rand.randi(0, n)
        widgets[2 * index + 1].role = "want"
        flow.end_line()
        flow.br()
        w, h = _button_size("Submit", big=True)
        x, y = flow.place(w, h)
        widgets.append(_button("Submit", x, y, big=True, classes="secondary-action", role="submit"))
        return _Scene(TASK_UTTERANCES[self.name].format(word=words[index]), widgets)

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.role == "submit":
            wanted = next(w for w in scene.widgets if w.role == "want")
            scene.end(1.0 if wanted.checked else -1.0)


class EnterText(_Task):
    name = "enter-text"

    def generate(self, rand: _Rand) -> _Scene:
        name = rand.sample(FIFTY_NAMES)
        margin_left, margin_top = rand.randi(0, 20), rand.randi(0, 20)
        button_top = rand.randi(0, 20)
        flow = _Flow(left=AREA_LEFT + margin_left, top=AREA_TOP + margin_top)
        x, y = flow.place(126, INPUT_H)
        field_ = _input(x, y, 120)
        w, h = _button_size("Submit", big=True)
        x, y = flow.place(w, h + button_top)  # does not fit beside the field: next line
        submit = _button("Submit", x, y + button_top, big=True, classes="secondary-action", role="submit")
        scene = _Scene(TASK_UTTERANCES[self.name].format(name=name), [field_, submit], answer=name)
        return scene

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.role == "submit":
            value = next(w for w in scene.widgets if w.role == "field").value
            scene.end(1.0 if value == scene.answer else -1.0)


class FocusText(_Task):
    name = "focus-text"

    def generate(self, rand: _Rand) -> _Scene:
        left, top = rand.randi(0, 20), rand.randi(0, 140)
        field_ = _input(AREA_LEFT + left, AREA_TOP + top, 120)
        return _Scene(TASK_UTTERANCES[self.name], [field_])

    def on_focus(self, scene: _Scene, widget: _Widget) -> None:
        if widget.role == "field":
            scene.focus = None  # this.blur()
            scene.end(1.0)


class ClickLink(_Task):
    name = "click-link"

    def generate(self, rand: _Rand) -> _Scene:
        while True:
            tokens = rand.words(20).split()
            links = [rand.randf() < 0.2 for _ in tokens]  # Math.random() per word
            if any(links):
                break
        flow, widgets, decor = _Flow(), [], []
        for (x, y, word), is_link in zip(flow.words(" ".join(tokens)), links, strict=True):
            if is_link:
                widgets.append(
                    _Widget(
                        "span",
                        word,
                        x,
                        y,
                        _text_width(word, TEXT_SIZE),
                        LINE,
                        "link",
                        classes="alink",
                        lines=((x, y, word),),
                    )
                )
            else:
                decor.append(("text", x, y, word, TEXT_SIZE, BLACK))
        correct = rand.sample(widgets).text
        return _Scene(TASK_UTTERANCES[self.name].format(word=correct), widgets, decor=decor, answer=correct)

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.classes == "alink":
            scene.end(1.0 if widget.text == scene.answer else -1.0)


class EnterPassword(_Task):
    name = "enter-password"

    def generate(self, rand: _Rand) -> _Scene:
        password = rand.string(2, 6)
        flow, widgets = _Flow(top=AREA_TOP + 4), []
        for i, label in enumerate(("Password", "Verify password")):
            runs = flow.words(label)
            widgets.append(_Widget("label", label, *_runs_box(runs), "text", lines=tuple(runs)))
            x, y = flow.place(116, INPUT_H + 10)  # 100 px + padding/border, 5 px margins
            widgets.append(_input(x + 5, y + 5, 100, tag="input_password", role=f"field{i}"))
            flow.end_line()
            flow.y += 4  # <p> margins
        w, h = _button_size("Submit", big=True)
        x, y = flow.place(w + 7, h)
        widgets.append(_button("Submit", x + 7, y, big=True, classes="secondary-action", role="submit"))
        return _Scene(TASK_UTTERANCES[self.name].format(password=password), widgets, answer=password)

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.role == "submit":
            values = [w.value for w in scene.widgets if w.tag == "input_password"]
            scene.end(1.0 if all(v == scene.answer for v in values) else -1.0)


def _runs_box(runs: list[tuple[int, int, str]], size: int = TEXT_SIZE) -> tuple[int, int, int, int]:
    left = min(x for x, _, _ in runs)
    top = min(y for _, y, _ in runs)
    right = max(x + _text_width(w, size) for x, _, w in runs)
    return left, top, right - left, max(y for _, y, _ in runs) + LINE - top


class ClickDialog(_Task):
    name = "click-dialog"

    def generate(self, rand: _Rand) -> _Scene:
        text = rand.words(4, 8)
        margin_top, margin_left = rand.randi(-10, 20), rand.randi(5, 25)
        width, height = rand.randi(90, 120), rand.randi(70, 100)
        left = min(max(AREA_LEFT, (WIDTH - width) // 2 - 15 + margin_left), AREA_RIGHT - width)
        top = min(max(AREA_TOP, 102 - height // 2 + margin_top), AREA_BOTTOM - height)
        decor = [
            ("rect", (left, top, left + width - 1, top + height - 1), WHITE, LIGHT_LINE),
            ("rect", (left + 3, top + 3, left + width - 4, top + 21), TITLE_FILL, LIGHT_LINE),
        ]
        close = _Widget(
            "button",
            "Close",
            left + width - 25,
            top + 2,
            20,
            20,
            "close",
            classes="ui-button ui-corner-all ui-widget ui-button-icon-only ui-dialog-titlebar-close",
            role="close",
        )
        flow = _Flow(left=left + 6, top=top + 28, right=left + width - 6)
        paragraph = _text_widget("p", text, flow.words(text))
        return _Scene(TASK_UTTERANCES[self.name], [close, paragraph], decor=decor, focus=close)

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.role == "close":
            scene.end(1.0)


class ClickTab(_Task):
    name = "click-tab"

    def generate(self, rand: _Rand) -> _Scene:
        texts = [rand.words(20) for _ in range(3)]
        expected = rand.randi(1, 4)
        if expected == 2:
            active = 0
        elif expected == 3:
            active = rand.sample((0, 1))
        else:
            active = rand.sample((1, 2))
        top = AREA_TOP + 3
        decor = [
            ("rect", (AREA_LEFT, AREA_TOP, AREA_RIGHT - 1, AREA_BOTTOM - 1), WHITE, LIGHT_LINE),
            ("rect", (AREA_LEFT + 2, AREA_TOP + 2, AREA_RIGHT - 3, top + 25), TITLE_FILL, LIGHT_LINE),
        ]
        widgets = []
        for i in range(3):
            label = f"Tab #{i + 1}"
            tab = _Widget(
                "a",
                label,
                AREA_LEFT + 5 + 46 * i,
                top + 3,
                44,
                22,
                "tab",
                classes="ui-tabs-anchor",
                role=f"tab{i + 1}",
            )
            tab.active = i == active
            widgets.append(tab)
        flow = _Flow(left=AREA_LEFT + 8, top=top + 32, right=AREA_RIGHT - 6)
        widgets.append(_text_widget("p", texts[active], flow.words(texts[active])))
        return _Scene(
            TASK_UTTERANCES[self.name].format(n=expected), widgets, decor=decor, answer=f"tab{expected}"
        )

    def on_click(self, scene: _Scene, widget: _Widget) -> None:
        if widget.tag == "a":
            scene.end(1.0 if widget.role == scene.answer else -1.0)


_TASK_CLASSES: tuple[type[_Task], ...] = (
    ClickTest,
    ClickButton,
    ClickCheckboxes,
    EnterText,
    FocusText,
    ClickLink,
    ClickOption,
    EnterPassword,
    ClickDialog,
    ClickTab,
)
_TASKS: dict[str, _Task] = {cls.name: cls() for cls in _TASK_CLASSES}
SYNTHETIC_TASKS: tuple[str, ...] = tuple(_TASKS)
"""The task names, MiniWoB++'s."""


# --------------------------------------------------------------------------------------------
# Drawing


def _draw_text(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int, fill) -> None:
    draw.text((x, y), text, font=_font(size), fill=fill)


def _draw_widget(draw: ImageDraw.ImageDraw, w: _Widget, focused: bool) -> None:
    box = (w.left, w.top, w.left + w.width - 1, w.top + w.height - 1)
    style = w.style
    if style == "button":
        draw.rounded_rectangle(box, radius=3, fill=GREY_FILL, outline=FOCUS if focused else GREY_LINE)
        lines = _wrap(w.text, WIDGET_SIZE, w.width - 4) or [""]
        y = w.top + (w.height - LINE * len(lines)) // 2
        for line in lines:
            x = w.left + (w.width - _text_width(line, WIDGET_SIZE)) // 2
            _draw_text(draw, x, y, line, WIDGET_SIZE, BLACK)
            y += LINE
    elif style == "input":
        draw.rectangle(box, fill=WHITE, outline=FOCUS if focused else GREY_LINE, width=2 if focused else 1)
        if w.tag == "input_password":  # dots, not text (the default font has no bullet)
            count = min(len(w.value), (w.width - 6) // 6)
            for i in range(count):
                x = w.left + 4 + 6 * i
                draw.ellipse((x, w.top + 7, x + 4, w.top + 11), fill=BLACK)
            end = w.left + 4 + 6 * count
        else:
            shown = w.value
            while shown and _text_width(shown, WIDGET_SIZE) > w.width - 8:
                shown = shown[1:]
            _draw_text(draw, w.left + 3, w.top + 3, shown, WIDGET_SIZE, BLACK)
            end = w.left + 4 + _text_width(shown, WIDGET_SIZE)
        if focused:  # caret
            draw.line((end, w.top + 4, end, w.top + w.height - 5), fill=BLACK)
    elif style == "checkbox":
        if w.checked:
            draw.rounded_rectangle(box, radius=2, fill=CHECK_BLUE, outline=CHECK_BLUE)
            draw.line(
                (w.left + 3, w.top + 6, w.left + 5, w.top + 9, w.left + 10, w.top + 3), fill=WHITE, width=2
            )
        else:
            draw.rounded_rectangle(box, radius=2, fill=WHITE, outline=FOCUS if focused else GREY_LINE)
    elif style == "radio":
        draw.ellipse(box, fill=WHITE, outline=CHECK_BLUE if w.checked else GREY_LINE, width=1)
        if w.checked:
            draw.ellipse((w.left + 3, w.top + 3, w.left + w.width - 4, w.top + w.height - 4), fill=CHECK_BLUE)
    elif style in ("label", "text"):
        for x, y, text in w.lines:
            _draw_text(draw, x, y, text, TEXT_SIZE, BLACK)
    elif style == "link":
        for x, y, text in w.lines:
            _draw_text(draw, x, y, text, TEXT_SIZE, BLUE)
            draw.line((x, y + 11, x + _text_width(text, TEXT_SIZE) - 1, y + 11), fill=BLUE)
    elif style == "tab":
        fill, colour = (TAB_ACTIVE, WHITE) if w.active else (GREY_FILL, BLACK)
        draw.rectangle(box, fill=fill, outline=FOCUS if focused else LIGHT_LINE)
        x = w.left + (w.width - _text_width(w.text, TEXT_SIZE)) // 2
        _draw_text(draw, x, w.top + 5, w.text, TEXT_SIZE, colour)
    elif style == "close":
        draw.rounded_rectangle(box, radius=3, fill=GREY_FILL, outline=FOCUS if focused else GREY_LINE)
        draw.line((w.left + 6, w.top + 6, w.left + 13, w.top + 13), fill=BLACK, width=2)
        draw.line((w.left + 6, w.top + 13, w.left + 13, w.top + 6), fill=BLACK, width=2)


def _render(scene: _Scene) -> np.ndarray:
    image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH - 1, QUERY_HEIGHT - 1), fill=YELLOW)
    y = 3
    for line in _wrap(scene.instruction, TEXT_SIZE, WIDTH - 6):
        if y + LINE > QUERY_HEIGHT:
            break
        _draw_text(draw, 3, y, line, TEXT_SIZE, BLACK)
        y += LINE
    for item in scene.decor:
        if item[0] == "text":
            _, x, y, text, size, fill = item
            _draw_text(draw, x, y, text, size, fill)
        elif item[0] == "rect":
            _, box, fill, outline = item
            draw.rectangle(box, fill=fill, outline=outline)
    for widget in scene.widgets:
        _draw_widget(draw, widget, widget is scene.focus)
    return np.asarray(image).copy()


# --------------------------------------------------------------------------------------------
# Backend

_KEY_ALIASES = {"return": "enter", "del": "delete", "spacebar": "space", " ": "space", "esc": "escape"}


def _refs_text(listed: list[_Widget]) -> str:
    """``refs: 1-3`` for consecutive refs, ``refs: 4, 6, 9`` otherwise."""
    refs = [w.ref for w in listed]
    if not refs:
        return "it has no elements"
    if refs == list(range(refs[0], refs[-1] + 1)):
        return f"refs: {refs[0]}-{refs[-1]}"
    return "refs: " + ", ".join(map(str, refs))


class SyntheticBackend(GuiBackend):
    """MiniWoB++-like task pages drawn with PIL (see the module docstring for the tasks).

    Args:
        max_elements: List at most this many elements per page (in reading order); the others
            stay on the screen and clickable by coordinates. The tasks list at most ~20.
        refs: ``"sequential"`` numbers elements 1, 2, ...; ``"dom"`` spaces them like MiniWoB's
            DOM refs (see :func:`widget_refs`), for a curriculum that transfers to the browser.
    """

    size = (WIDTH, HEIGHT)
    tasks = SYNTHETIC_TASKS

    def __init__(self, max_elements: int = 32, refs: str = "sequential") -> None:
        if max_elements < 1:
            raise ValueError(f"max_elements must be >= 1, got {max_elements}")
        check_ref_mode(refs)
        self.max_elements = int(max_elements)
        self.refs = refs
        self.task: _Task | None = None
        self.scene: _Scene | None = None
        self.page: Page | None = None

    # -- GuiBackend -----------------------------------------------------------------------------

    def reset(self, task: str, seed: int) -> Page:
        if task not in _TASKS:
            raise ValueError(f"unknown synthetic task {task!r}; tasks: {', '.join(SYNTHETIC_TASKS)}")
        self.task = _TASKS[task]
        self.scene = self.task.make(int(seed), self.refs)
        self.page = self._page()
        return self.page

    def execute(self, action: GuiAction) -> Page:
        if self.scene is None or self.page is None:
            raise RuntimeError("call reset() before execute()")
        if self.scene.done:
            return self.page
        handler: Callable[[GuiAction], None] | None = getattr(self, f"_do_{action.kind}", None)
        if handler is None:
            raise ValueError(f"the synthetic backend cannot execute a {action.kind!r} action")
        handler(action)
        self.page = self._page()
        return self.page

    # -- actions --------------------------------------------------------------------------------

    def _check_point(self, action: GuiAction) -> tuple[float, float]:
        x, y = action.x, action.y
        if x is None or y is None:
            raise TargetError(f"{action.kind} needs a point")
        if not (0 <= x < WIDTH and 0 <= y < HEIGHT):
            raise TargetError(
                f"({x:g}, {y:g}) is outside the {WIDTH}x{HEIGHT} screen (x 0-{WIDTH - 1}, y 0-{HEIGHT - 1})"
            )
        return x, y

    def _do_click(self, action: GuiAction) -> None:
        x, y = self._check_point(action)
        self._click_at(x, y)

    def _do_click_element(self, action: GuiAction) -> None:
        listed = self.scene.widgets[: self.max_elements]
        widget = next((w for w in listed if w.ref == action.ref), None)
        if widget is None:
            raise TargetError(f"no element with ref {action.ref} on this page ({_refs_text(listed)})")
        self._click_at(*widget.center)

    def _do_type(self, action: GuiAction) -> None:
        self._type(action.text or "")

    def _do_press(self, action: GuiAction) -> None:
        raw = action.key or ""
        key = raw if len(raw) == 1 and raw != " " else _KEY_ALIASES.get(raw.lower(), raw.lower())
        scene, focus = self.scene, self.scene.focus
        if len(key) == 1:  # a printable character types itself
            self._type(key)
        elif key == "backspace" or key == "delete":
            if focus is not None and focus.editable:
                if scene.selected_all:
                    focus.value = ""
                elif key == "backspace":
                    focus.value = focus.value[:-1]
                scene.selected_all = False
        elif key in ("control+a", "ctrl+a", "meta+a", "command+a", "cmd+a"):
            scene.selected_all = focus is not None and focus.editable and bool(focus.value)
        elif key in ("tab", "shift+tab"):
            order = [w for w in scene.widgets if w.focusable]
            if order:
                step = -1 if key == "shift+tab" else 1
                if focus in order:
                    index = (order.index(focus) + step) % len(order)
                else:
                    index = 0 if step == 1 else len(order) - 1
                self._focus(order[index])
        elif key == "enter":
            if focus is not None and focus.tag in ("button", "a"):
                self._activate(focus)
        elif key == "space":
            if focus is not None and (
                focus.tag == "button" or focus.tag in ("input_checkbox", "input_radio")
            ):
                self._activate(focus)
            elif focus is not None and focus.editable:
                self._type(" ")

    def _do_scroll(self, action: GuiAction) -> None:
        if action.x is not None and action.y is not None:
            self._check_point(action)

    # -- page logic -----------------------------------------------------------------------------

    def _click_at(self, x: float, y: float) -> None:
        widget = next((w for w in reversed(self.scene.widgets) if w.contains(x, y)), None)
        if widget is None:
            self.scene.focus = None
            self.scene.selected_all = False
            return
        target = widget.control if widget.tag == "label" and widget.control is not None else widget
        if target.focusable:
            self._focus(target)
        else:
            self.scene.focus = None
        if not self.scene.done:
            self._activate(widget)

    def _activate(self, widget: _Widget) -> None:
        """The click event of ``widget``: toggles, then the task's handler."""
        target = widget.control if widget.tag == "label" and widget.control is not None else widget
        if target.tag == "input_checkbox":
            target.checked = not target.checked
        elif target.tag == "input_radio":
            for other in self.scene.widgets:
                if other.tag == "input_radio" and other.group == target.group:
                    other.checked = other is target
        self.scene.selected_all = False
        self.task.on_click(self.scene, widget)

    def _focus(self, widget: _Widget) -> None:
        if self.scene.focus is widget:
            return
        self.scene.focus = widget
        self.scene.selected_all = False
        self.task.on_focus(self.scene, widget)

    def _type(self, text: str) -> None:
        focus = self.scene.focus
        if focus is None or not focus.editable:
            return
        text = re.sub(r"[\r\n]", "", text)
        if self.scene.selected_all:
            focus.value = ""
            self.scene.selected_all = False
        focus.value += text

    def _page(self) -> Page:
        scene = self.scene
        elements = [
            Element(
                ref=w.ref,
                tag=w.tag,
                text=w.text,
                left=float(w.left),
                top=float(w.top),
                width=float(w.width),
                height=float(w.height),
                value=w.value,
                focused=w is scene.focus,
                checked=w.checked,
                classes=w.classes,
            )
            for w in scene.widgets[: self.max_elements]
        ]
        return Page(
            instruction=scene.instruction,
            screenshot=_render(scene),
            elements=elements,
            done=scene.done,
            reward=scene.reward,
            time_reward=None,
        )


BACKENDS.register(
    "synthetic",
    SyntheticBackend,
    description="MiniWoB++-like task pages drawn with PIL (no browser): " + ", ".join(SYNTHETIC_TASKS) + ".",
)
