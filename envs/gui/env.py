"""The GUI environment: any GUI backend behind the env contract, one text action per step.

An episode is one instance of a task (a MiniWoB++ page in Chromium, or a synthetic page drawn
with PIL). Each step the agent writes one action in the grammar of
:mod:`~embodied_rl.envs.gui.grammar` (``click(80, 95)``, ``click_element(4)``,
``type("Kasey")``, ``press("Enter")``, ``scroll(80, 120, "down")``, ``done()``); the env parses
it, applies it to the page and returns the new screenshot. The task ends the episode (MiniWoB's
own success/failure check), or the agent's ``done()``, or the time limit (``max_steps``).

Observation (contract keys):

- ``images``: ``{"screen": uint8[H, W, 3]}``, the screenshot (native 160x210 for MiniWoB,
  resized to ``screen_size`` when set);
- ``instruction``: the task's utterance;
- ``text``: the prompt-ready page description::

      <grammar help>                       (show_grammar)
      Page: click-button                   (the task's page, as a browser's address bar shows it)
      Task: <instruction>
      Elements:                            (dom)
      [4] button "ONE" at (80,95)
      [5] input_text "" at (80,130) value="Kasey" focused
      Previous actions: click_element(5); type("Kasey")      (the last `history` actions)
      Last action was invalid: <why>       (after an invalid action)
      Next action:

Coordinates in actions and in the element list are pixels of the observed screenshot
(``coords="pixels"``) or fractions of its width and height (``coords="normalized"``); the env
maps them to the page's native pixels.

Reward of a step (GUI-R1-style terms, all from config)::

    r = task_reward                    when the task ends (reward mode below)
      + format_reward                  the action parsed and targeted something
      + action_type_reward             its kind (click, type, ...) is the scripted expert's
                                       kind in this state (tasks with an expert only)
      - invalid_penalty                the action did not parse or targeted nothing

Reward modes (``reward``): ``raw`` (the task's reward in [-1, 1], partial credit kept),
``binary`` (1 if solved else -1 when the task ends; 0 on ``done()`` before the task ends),
``success`` (1 if solved, else 0: a failed task scores what a stalled episode does, the
reward GRPO wants, since with ``raw``/``binary`` stalling to the step limit beats trying and failing),
``time`` (MiniWoB's time-scaled reward; backends without a clock scale the raw reward by the
steps used: ``raw * (1 - 0.5 * (t - 1) / max_steps)`` for a success at step t).

``info`` of a step: ``success`` (the task ended solved), ``action_valid``, ``invalid_action``,
``action`` (the canonical action text or ``""``), ``error`` (why it was invalid) and ``task``.
An invalid action never crashes the env: the page is unchanged and the episode goes on (or
ends, with ``end_on_invalid``).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
from embodied_rl.envs.gui.base import BACKENDS, Element, GuiAction, GuiBackend, Page, TargetError
from embodied_rl.envs.gui.grammar import (
    COORD_MODES,
    ActionParseError,
    action_kind,
    format_action,
    grammar_help,
    parse_action,
)
from embodied_rl.envs.tools.env import AnyText
from gymnasium import spaces

__all__ = ["GYM_ID", "REWARD_MODES", "GuiEnv", "make_gui_env", "parse_listing"]

GYM_ID = "embodied_rl/GuiEnv-v0"
REWARD_MODES = ("raw", "binary", "success", "time")
MAX_TEXT = 16_384

_LISTING = re.compile(r"^\[(\d+)\] (\S+) ")
_AT = re.compile(r"^ at \(([-\d.]+),([-\d.]+)\)(.*)$")


def _backend_modules() -> None:
    """Import the backend modules so they register themselves (miniwob only when asked)."""
    import embodied_rl.envs.gui.synthetic  # noqa: F401


def build_backend(name: str, kwargs: dict[str, Any] | None = None) -> GuiBackend:
    """The backend registered as ``name`` (``synthetic``, ``miniwob``) made with ``kwargs``."""
    _backend_modules()
    if name == "miniwob":
        import embodied_rl.envs.gui.miniwob  # noqa: F401
    return BACKENDS.get(name)(**(kwargs or {}))


def describe_elements(elements: list[Element], scale: tuple[float, float], coords: str) -> list[str]:
    """The element list in the action frame: observed pixels, or fractions of the screen."""
    sx, sy = scale
    lines = []
    for el in elements:
        moved = replace(el, left=el.left * sx, top=el.top * sy, width=el.width * sx, height=el.height * sy)
        line = moved.describe()
        if coords == "normalized":
            cx, cy = moved.center
            line = re.sub(r" at \([-\d]+,[-\d]+\)", f" at ({cx:.3f},{cy:.3f})", line, count=1)
        lines.append(line)
    return lines


def parse_listing(text: str) -> list[Element]:
    """The elements of a ``text`` observation's element list (the inverse of its lines).

    Boxes come back as points: ``left, top`` = the listed center, ``width = height = 0``, so
    ``Element.center`` is the listed point. Scripted experts read the page this way, exactly as
    a model does.
    """
    out: list[Element] = []
    decoder = json.JSONDecoder()
    for line in text.splitlines():
        head = _LISTING.match(line)
        if head is None:
            continue
        try:
            label, end = decoder.raw_decode(line, head.end())
        except json.JSONDecodeError:
            continue
        at = _AT.match(line[end:])
        if at is None:
            continue
        rest = at.group(3)
        value = ""
        if rest.startswith(" value="):
            try:
                value, stop = decoder.raw_decode(rest, len(" value="))
            except json.JSONDecodeError:
                continue
            rest = rest[stop:]
        flags = rest.split()
        checked = True if "checked" in flags else False if "unchecked" in flags else None
        x, y = float(at.group(1)), float(at.group(2))
        out.append(
            Element(
                int(head.group(1)),
                head.group(2),
                str(label),
                x,
                y,
                0.0,
                0.0,
                str(value),
                "focused" in flags,
                checked,
            )
        )
    return out


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if (image.shape[1], image.shape[0]) == size:
        return image.copy()  # the backend may keep and redraw its array
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


class GuiEnv(gym.Env):
    """One episode = one task instance; one step = one action. See the module docstring.

    Args:
        backend: Registered backend name (``synthetic`` or ``miniwob``).
        backend_kwargs: Backend options (e.g. ``{"episode_time_s": 600}`` for MiniWoB).
        tasks: Task names; each episode draws one from the reset seed (same seed, same task
            and the same instance: GRPO groups compare like with like). Default: all tasks
            of the backend.
        screen_size: ``(width, height)`` the screenshot is resized to (None: native).
        coords: ``pixels`` or ``normalized`` (see :mod:`~embodied_rl.envs.gui.grammar`).
        dom: Put the element list in ``text`` (scripted experts need it).
        history: How many previous actions ``text`` repeats.
        show_grammar: Start ``text`` with the grammar's help.
        max_steps: Steps per episode (the time limit, also used by ``reward=time``).
        reward: ``raw``, ``binary``, ``success`` or ``time`` (module docstring).
        format_reward / action_type_reward / invalid_penalty: shaping terms.
        end_on_invalid: End the episode (terminated) on an invalid action.
        max_action_chars: Longest action text accepted.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        backend: str = "synthetic",
        backend_kwargs: dict[str, Any] | None = None,
        tasks: list[str] | tuple[str, ...] | str | None = None,
        screen_size: tuple[int, int] | list[int] | None = None,
        coords: str = "pixels",
        dom: bool = True,
        history: int = 4,
        show_grammar: bool = True,
        max_steps: int = 8,
        reward: str = "raw",
        format_reward: float = 0.0,
        action_type_reward: float = 0.0,
        invalid_penalty: float = 0.0,
        end_on_invalid: bool = False,
        max_action_chars: int = 512,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if coords not in COORD_MODES:
            raise ValueError(f"coords must be one of {COORD_MODES}, got {coords!r}")
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        if max_steps < 1 or history < 0:
            raise ValueError(f"need max_steps >= 1 and history >= 0, got {max_steps} and {history}")
        self.render_mode = render_mode
        self.backend = build_backend(backend, backend_kwargs)
        tasks = [tasks] if isinstance(tasks, str) else list(tasks or self.backend.tasks)
        unknown = [t for t in tasks if t not in self.backend.tasks]
        if not tasks or unknown:
            self.backend.close()
            raise ValueError(f"unknown {backend} tasks {unknown or tasks}; known: {list(self.backend.tasks)}")
        self.tasks = tasks
        self.natives = {t: tuple(self.backend.task_size(t)) for t in tasks}
        if screen_size is None and len(set(self.natives.values())) > 1:
            self.backend.close()
            raise ValueError(
                f"tasks {tasks} have screens of different sizes {sorted(set(self.natives.values()))}; "
                "set screen_size=(width, height) to resize them to one"
            )
        self.native = self.natives[tasks[0]]
        self.screen = tuple(screen_size) if screen_size is not None else self.native
        self.scale = (self.screen[0] / self.native[0], self.screen[1] / self.native[1])
        self.coords, self.dom, self.history, self.show_grammar = coords, dom, history, show_grammar
        self.max_steps, self.reward_mode = max_steps, reward
        self.format_reward, self.action_type_reward = format_reward, action_type_reward
        self.invalid_penalty, self.end_on_invalid = invalid_penalty, end_on_invalid
        self.max_action_chars = max_action_chars
        self.help = grammar_help(coords, *self.screen) if show_grammar else ""

        width, height = self.screen
        self.observation_space = spaces.Dict(
            {
                "screen": spaces.Box(0, 255, (height, width, 3), np.uint8),
                "instruction": AnyText(MAX_TEXT, min_length=0),
                "text": AnyText(MAX_TEXT, min_length=0),
            }
        )
        self.action_space = AnyText(max_action_chars, min_length=0)
        self.page: Page | None = None
        self.task = tasks[0]
        self.actions: list[str] = []
        self.steps = 0
        self.error = ""
        self.last: GuiAction | None = None
        self.last_reward = 0.0

    # ---- observation -----------------------------------------------------------------------

    @property
    def _frame(self) -> tuple[float, float]:
        """Native pixels -> the agent's frame: observed pixels, or fractions of the screen."""
        return self.scale if self.coords == "pixels" else (1 / self.native[0], 1 / self.native[1])

    def _text(self) -> str:
        assert self.page is not None
        parts = [self.help] if self.help else []
        parts.append(f"Page: {self.task}")
        parts.append(f"Task: {self.page.instruction}")
        if self.dom:
            parts.append("Elements:")
            parts.extend(describe_elements(self.page.elements, self._frame, self.coords))
        if self.history:
            recent = self.actions[-self.history :]
            parts.append(f"Previous actions: {'; '.join(recent) if recent else 'none'}")
        if self.error:
            parts.append(f"Last action was invalid: {self.error}")
        parts.append("Next action:\n")
        return "\n".join(parts)[-MAX_TEXT:]

    def _obs(self) -> dict[str, Any]:
        assert self.page is not None
        return {
            "screen": _resize(self.page.screenshot, self.screen),
            "instruction": self.page.instruction[:MAX_TEXT],
            "text": self._text(),
        }

    # ---- episode ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31 - 1))
        self.task = (options or {}).get("task") or self.tasks[task_seed % len(self.tasks)]
        if self.task not in self.natives:
            raise ValueError(f"reset option task={self.task!r} is not one of this env's tasks {self.tasks}")
        self.native = self.natives[self.task]
        self.scale = (self.screen[0] / self.native[0], self.screen[1] / self.native[1])
        self.page = self.backend.reset(self.task, task_seed)
        self.actions, self.steps, self.error, self.last, self.last_reward = [], 0, "", None, 0.0
        return self._obs(), {"task": self.task}

    def _to_native(self, action: GuiAction) -> GuiAction:
        if action.x is None or self.coords == "normalized":
            return action  # normalized coordinates are parsed against the native size
        return replace(action, x=action.x / self.scale[0], y=action.y / self.scale[1])

    def _parse(self, text: str) -> GuiAction:
        if self.coords == "normalized":
            return parse_action(
                text,
                width=self.native[0],
                height=self.native[1],
                coords="normalized",
                max_chars=self.max_action_chars,
            )
        width, height = self.screen
        return self._to_native(
            parse_action(text, width=width, height=height, max_chars=self.max_action_chars)
        )

    def _in_frame(self, action: GuiAction) -> str:
        """``action`` (native pixels) written in the agent's frame, as the history shows it."""
        if self.coords == "normalized":
            return format_action(action, width=self.native[0], height=self.native[1], coords="normalized")
        if action.x is not None:
            action = replace(action, x=action.x * self.scale[0], y=action.y * self.scale[1])
        return format_action(action, width=self.screen[0], height=self.screen[1])

    def _task_reward(self, page: Page) -> float:
        if self.reward_mode == "binary":
            return 1.0 if page.reward >= 1.0 else -1.0
        if self.reward_mode == "success":
            return 1.0 if page.reward >= 1.0 else 0.0
        if self.reward_mode == "time":
            if page.time_reward is not None:
                return float(page.time_reward)
            if page.reward > 0:
                return page.reward * (1.0 - 0.5 * (self.steps - 1) / self.max_steps)
        return float(page.reward)

    def step(self, action: Any):
        assert self.page is not None, "call reset() first"
        self.steps += 1
        text = action if isinstance(action, str) else str(action)
        expected = self._expert_kind()
        reward, terminated, valid, error, canonical = 0.0, False, True, "", ""
        try:
            parsed = self._parse(text)
            canonical = self._in_frame(parsed)
            if parsed.kind == "done":
                terminated = True
            else:
                self.page = self.backend.execute(parsed)
            self.last = parsed
        except (ActionParseError, TargetError) as exc:
            valid, error = False, str(exc)
        if valid:
            reward += self.format_reward
            if expected is not None and action_kind(text) == expected:
                reward += self.action_type_reward
            self.actions.append(canonical)
        else:
            reward -= self.invalid_penalty
            terminated = self.end_on_invalid
            self.actions.append("<invalid>")
        self.error = error
        success = False
        if self.page.done:
            terminated = True
            reward += self._task_reward(self.page)
            success = self.page.reward >= 1.0
        self.last_reward = reward
        info = {
            "success": success,
            "action_valid": valid,
            "invalid_action": not valid,
            "action": canonical,
            "error": error,
            "task": self.task,
        }
        return self._obs(), float(reward), terminated, False, info

    def _expert_kind(self) -> str | None:
        """The action kind the task's scripted expert would take now (action-type shaping)."""
        if not self.action_type_reward:
            return None
        from embodied_rl.envs.gui.experts import expert_for_task

        expert = expert_for_task(self.task)
        if expert is None or self.page is None or self.page.done:
            return None
        elements = parse_listing("\n".join(describe_elements(self.page.elements, self._frame, self.coords)))
        try:
            return action_kind(expert(self.page.instruction, elements, list(self.actions)))
        except Exception:  # an expert that cannot act here gives no shaping
            return None

    # ---- rendering -------------------------------------------------------------------------

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the screenshot at 2x with the last action drawn on it and a caption."""
        if self.render_mode != "rgb_array" or self.page is None:
            return None
        from embodied_rl.envs.gui.draw import draw_action

        return draw_action(
            self.page.screenshot,
            self.last,
            self.page.elements,
            caption=f"{self.task}  step {self.steps}  r={self.last_reward:+.2f}",
            note=self.actions[-1] if self.actions else "",
            error=self.error,
        )

    def close(self) -> None:
        self.backend.close()


def make_gui_env(
    num_envs: int = 1,
    *,
    name: str = GYM_ID,
    max_steps: int = 8,
    vectorization: str = "sync",
    device: str = "cpu",
    async_context: str = "spawn",
    family: str = "gui",
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` GUI envs as one contract vector env (factory of the registered GUI envs).

    Args:
        num_envs: Batch size N (for MiniWoB: N browsers, one per env).
        name: The registered name (shown in the spec).
        max_steps: Steps per episode (the time limit).
        vectorization: ``sync`` (one process) or ``async`` (one worker process per env: the
            browser pool, each worker keeping its browser across episodes).
        device / async_context: As for Gymnasium envs.
        **env_kwargs: :class:`GuiEnv` options.
    """
    from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env

    return make_gymnasium_env(
        num_envs,
        gym_id=GYM_ID,
        name=name,
        family=family,
        vectorization=vectorization,
        device=device,
        async_context=async_context,
        shared_memory=False,  # text observations hold arbitrary unicode
        max_episode_steps=max_steps,
        max_steps=max_steps,
        **env_kwargs,
    )
