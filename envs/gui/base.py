"""What every GUI backend shares: the parsed action, the page elements and the backend interface.

A *backend* is one screen a GUI agent acts on: a synthetic canvas drawn with PIL
(:mod:`~embodied_rl.envs.gui.synthetic`) or a MiniWoB++ task page in a real browser
(:mod:`~embodied_rl.envs.gui.miniwob`). :class:`~embodied_rl.envs.gui.env.GuiEnv` puts any
backend behind the env contract with the one text action grammar
(:mod:`~embodied_rl.envs.gui.grammar`).

Coordinates are screenshot pixels of the backend's native screen (``x`` to the right from
the left edge, ``y`` down from the top), the frame MiniWoB's ``CLICK_COORDS`` uses.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from embodied_rl.registry import Registry

__all__ = ["ACTION_KINDS", "BACKENDS", "Element", "GuiAction", "GuiBackend", "Page", "TargetError"]

ACTION_KINDS = ("click", "click_element", "type", "press", "scroll", "done")
"""The grammar's actions (see :mod:`~embodied_rl.envs.gui.grammar`)."""


@dataclass(frozen=True)
class GuiAction:
    """One parsed action. Fields not used by ``kind`` stay None.

    Attributes:
        kind: One of :data:`ACTION_KINDS`.
        x, y: Native screenshot pixels (``click``, ``scroll``); floats, not rounded.
        ref: Element reference (``click_element``), as listed in the page's elements.
        text: Text to type (``type``).
        key: Key or key combination (``press``), e.g. ``Enter``, ``Control+a``.
        direction: ``up`` or ``down`` (``scroll``).
    """

    kind: str
    x: float | None = None
    y: float | None = None
    ref: int | None = None
    text: str | None = None
    key: str | None = None
    direction: str | None = None


@dataclass(frozen=True)
class Element:
    """One element of the page a model (and a scripted expert) can refer to.

    Attributes:
        ref: Stable reference of the element within an episode (``click_element(ref)``).
        tag: Lower-case tag; inputs as ``input_<type>`` (``input_text``, ``input_checkbox``),
            MiniWoB's convention.
        text: Visible text of the element (its label for checkboxes drawn inside a label).
        left, top, width, height: Box in native screenshot pixels.
        value: Current value of a text input.
        focused: Has keyboard focus.
        checked: True/False for checkboxes and radio buttons, None for other elements.
        classes: The element's CSS classes (empty for synthetic pages).
    """

    ref: int
    tag: str
    text: str
    left: float
    top: float
    width: float
    height: float
    value: str = ""
    focused: bool = False
    checked: bool | None = None
    classes: str = ""

    @property
    def center(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height

    def describe(self) -> str:
        """One line for the DOM listing: ``[4] button "ONE" at (80,95)`` (+ value/checked/focused).

        Text and value are JSON strings (quotes and newlines escaped), so the line parses back.
        """
        cx, cy = self.center
        line = f"[{self.ref}] {self.tag} {json.dumps(self.text, ensure_ascii=False)} at ({round(cx)},{round(cy)})"
        if self.value:
            line += f" value={json.dumps(self.value, ensure_ascii=False)}"
        if self.checked is not None:
            line += " checked" if self.checked else " unchecked"
        if self.focused:
            line += " focused"
        return line


@dataclass
class Page:
    """What a backend shows after a reset or an action.

    Attributes:
        instruction: The task's utterance (``Click on the "ONE" button.``).
        screenshot: ``uint8[H, W, 3]`` in native pixels.
        elements: The elements a model may refer to, in reading order.
        done: The task has ended (success or failure).
        reward: Raw task reward in [-1, 1] (1 = solved), meaningful when ``done``.
        time_reward: Reward scaled down by the time taken (MiniWoB's ``env_reward``), or None
            when the backend has no clock (the env then scales by steps used).
    """

    instruction: str
    screenshot: np.ndarray
    elements: list[Element] = field(default_factory=list)
    done: bool = False
    reward: float = 0.0
    time_reward: float | None = None


class TargetError(ValueError):
    """An action that parses but targets nothing on this page (an unknown ref, a click off-screen).

    Its message is shown to the model as the reason the action was invalid.
    """


class GuiBackend(ABC):
    """One screen: reset to a task instance, apply actions, report the page.

    Attributes:
        size: ``(width, height)`` of the native screenshots.
        tasks: Task names this backend can run.
    """

    size: tuple[int, int]
    tasks: tuple[str, ...]

    @abstractmethod
    def reset(self, task: str, seed: int) -> Page:
        """Start a new instance of ``task`` (same ``seed`` -> same instance) and return its page."""

    @abstractmethod
    def execute(self, action: GuiAction) -> Page:
        """Apply ``action`` (never ``done``; the env handles that) and return the new page.

        Raises:
            TargetError: the action targets nothing (unknown ref, point outside the screen);
                the page is unchanged.
        """

    def task_size(self, task: str) -> tuple[int, int]:
        """``(width, height)`` of ``task``'s screenshots (default: :attr:`size` for every task)."""
        return tuple(self.size)  # type: ignore[return-value]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (a browser)."""


BACKENDS: Registry[type[GuiBackend]] = Registry("gui backend")
"""name -> backend class (``synthetic``, ``miniwob``); constructed with the env's ``backend_kwargs``."""
