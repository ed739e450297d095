"""The tool environment: multi-turn tool use with a verifiable final answer, one Gymnasium env.

An episode is one task from a task source (:data:`~embodied_rl.envs.tools.base.TASKS`). Each
step is one model turn (a text action): a tool call, which the env runs and answers with the
tool's result, or the final answer, which the task's verifier scores and which ends the
episode. The time limit (``max_turns``) truncates an episode that never answers.

Observation (contract keys):

- ``instruction``: the task's question;
- ``text``: the whole conversation so far, ready to be continued by a language model::

      <system: tool descriptions (JSON schemas) + format rules>

      Question: <question>
      <turn 1 of the model>
      <tool_result>...</tool_result>
      <turn 2 of the model>
      ...

- ``images`` (image families only): ``{"view": uint8[V, V, 3]}``, the task image shrunk to
  ``view_size`` until an image tool returns a new view.

Reward of a step (all terms from config)::

    r = correct_reward * verify(answer)           on the answer turn (verify in [0, 1])
      + format_reward                             on a well-formed answer turn
      + tool_rewards[name]                        first successful call of each tool per episode
      - invalid_penalty                           on an invalid turn

``info`` of a step: ``success`` (the answer verified as fully right), ``action_valid``,
``invalid_action``, ``tool_call`` / ``tool_error`` (bools), ``turn`` (a JSON record of the turn:
kind, tool, arguments, result, error, score) and ``answer_score``. Invalid turns (see
:mod:`~embodied_rl.envs.tools.protocol`) get the error text as their result and the episode
goes on (or ends with ``end_on_invalid``); nothing a model writes crashes the env.
"""

from __future__ import annotations

import json
import logging
import textwrap
from typing import Any

import gymnasium as gym
import numpy as np
from embodied_rl.envs.core import AnyText
from embodied_rl.envs.tools.base import (
    TASKS,
    TOOLS,
    ExpertTurn,
    Task,
    TaskSource,
    Tool,
    ToolContext,
    ToolError,
)
from embodied_rl.envs.tools.image import fit_view
from embodied_rl.envs.tools.protocol import ToolFormat, format_call, parse_turn
from gymnasium import spaces

__all__ = ["AnyText", "ToolEnv", "build_tools"]

log = logging.getLogger(__name__)

SCHEMA_STYLES = ("json", "names")


def build_tools(
    names: list[str] | tuple[str, ...], tool_kwargs: dict[str, dict[str, Any]] | None = None
) -> dict[str, Tool]:
    """Instantiate registered tools by name (``tool_kwargs[name]`` are their options)."""
    tool_kwargs = tool_kwargs or {}
    unknown = sorted(set(tool_kwargs) - set(names))
    if unknown:
        raise ValueError(f"tool_kwargs for tools not offered: {unknown} (tools: {list(names)})")
    return {name: TOOLS.get(name)(**tool_kwargs.get(name, {})) for name in names}


def _clip(text: str, limit: int, tail: int = 256) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and its last ``tail`` characters
    (where a program's error line is) around a note of how much was cut."""
    if len(text) <= limit:
        return text
    tail = min(tail, limit // 4)
    head = limit - tail
    return f"{text[:head]}\n... [{len(text) - head - tail} characters cut] ...\n{text[len(text) - tail :]}"


class ToolEnv(gym.Env):
    """One episode = one task; one step = one model turn. See the module docstring.

    Args:
        task: Task-source name in :data:`TASKS` (``reasoning_gym``, ``knowledge_qa``, ``zoom_count``).
        task_kwargs: Options of the task source (e.g. ``{"dataset": "countdown"}``).
        tools: Tool names offered (default: the task source's own list).
        tool_kwargs: Per-tool options, e.g. ``{"python": {"timeout_s": 2}}``.
        tags: Override the protocol's tags (:class:`ToolFormat` fields).
        schemas: How tools are described: ``json`` (full JSON schemas) or ``names``
            (one line each: name, argument names, description).
        system_prompt: Template of the system text with ``{tools}`` and ``{rules}``.
        max_action_chars: Longest accepted turn; longer turns are invalid.
        max_call_chars: Longest accepted tool-call JSON.
        max_result_chars: Tool results longer than this are cut (and say so).
        view_size: Side of the ``view`` image (image families).
        correct_reward / format_reward / invalid_penalty / tool_rewards: reward terms (module doc).
        end_on_invalid: End the episode (terminated, reward ``-invalid_penalty``) on an invalid turn.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}

    def __init__(
        self,
        task: str = "reasoning_gym",
        task_kwargs: dict[str, Any] | None = None,
        tools: list[str] | None = None,
        tool_kwargs: dict[str, dict[str, Any]] | None = None,
        tags: dict[str, str] | None = None,
        schemas: str = "json",
        system_prompt: str = "You can use tools to answer the question.\nTools:\n{tools}\n{rules}",
        max_action_chars: int = 2048,
        max_call_chars: int = 1024,
        max_result_chars: int = 2048,
        view_size: int = 128,
        correct_reward: float = 1.0,
        format_reward: float = 0.0,
        invalid_penalty: float = 0.0,
        tool_rewards: dict[str, float] | None = None,
        end_on_invalid: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        if schemas not in SCHEMA_STYLES:
            raise ValueError(f"schemas must be one of {SCHEMA_STYLES}, got {schemas!r}")
        for name, value in (("max_action_chars", max_action_chars), ("max_call_chars", max_call_chars)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.source: TaskSource = TASKS.get(task)(**(task_kwargs or {}))
        self.tools = build_tools(tools or self.source.tools, tool_kwargs)
        unknown = sorted(set(tool_rewards or {}) - set(self.tools))
        if unknown:
            raise ValueError(f"tool_rewards for tools not offered: {unknown} (tools: {sorted(self.tools)})")
        self.format = ToolFormat(**(tags or {}))
        self.schemas = {name: tool.parameters for name, tool in self.tools.items()}
        self.system = system_prompt.format(tools=self._describe_tools(schemas), rules=self.format.rules())
        self.max_action_chars = max_action_chars
        self.max_call_chars = max_call_chars
        self.max_result_chars = max_result_chars
        self.view_size = view_size
        self.correct_reward = correct_reward
        self.format_reward = format_reward
        self.invalid_penalty = invalid_penalty
        self.tool_rewards = dict(tool_rewards or {})
        self.end_on_invalid = end_on_invalid

        max_text = len(self.system) + 64 * (max_action_chars + max_result_chars + 256) + 16_384
        obs: dict[str, spaces.Space] = {
            "instruction": AnyText(16_384, min_length=0),
            "text": AnyText(max_text, min_length=0),
        }
        if self.source.image_size is not None:
            obs["view"] = spaces.Box(0, 255, (view_size, view_size, 3), np.uint8)
        self.observation_space = spaces.Dict(obs)
        self.action_space = AnyText(max_action_chars, min_length=0)

        self.task: Task | None = None
        self.transcript = ""
        self.results: list[str] = []
        self.view: np.ndarray | None = None
        self.task_seed = 0
        self.rewarded_tools: set[str] = set()

    # ---- text ------------------------------------------------------------------------------

    def _describe_tools(self, style: str) -> str:
        if style == "json":
            return "\n".join(json.dumps(tool.schema(), ensure_ascii=False) for tool in self.tools.values())
        lines = []
        for tool in self.tools.values():
            args = ", ".join(tool.parameters.get("properties", {}))
            lines.append(f"- {tool.name}({args}): {tool.description.split('. ')[0].rstrip('.')}.")
        return "\n".join(lines)

    def _obs(self) -> dict[str, Any]:
        assert self.task is not None
        obs: dict[str, Any] = {"instruction": self.task.question, "text": self.transcript}
        if self.view is not None:
            obs["view"] = self.view.copy()
        return obs

    def result_block(self, text: str) -> str:
        return f"{self.format.result_open}{text}{self.format.result_close}"

    # ---- gym API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.task_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        self.task = self.source.sample(self.task_seed)
        self.transcript = f"{self.system}\n\nQuestion: {self.task.question}\n"
        self.results = []
        self.rewarded_tools = set()
        self.view = None
        if self.source.image_size is not None:
            if self.task.image is None:
                raise RuntimeError(
                    f"task source {type(self.source).__name__} promised an image but gave none"
                )
            self.view = fit_view(self.task.image, self.view_size)
        return self._obs(), {"success": False}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self.task is None:
            raise RuntimeError("call reset() before step()")
        text = action if isinstance(action, str) else str(action)
        record: dict[str, Any] = {"kind": "invalid", "tool": None, "arguments": None, "result": None}
        info = {"success": False, "action_valid": True, "invalid_action": False, "tool_call": False}
        info |= {"tool_error": False, "answer_score": 0.0}
        reward, terminated = 0.0, False

        if len(text) > self.max_action_chars:
            turn_error = f"the turn is {len(text)} characters; the limit is {self.max_action_chars}"
            turn = None
        else:
            turn = parse_turn(text, self.format, self.schemas, self.max_call_chars)
            turn_error = turn.error
        shown = _clip(text, self.max_action_chars)
        if turn is not None and turn.kind == "answer":
            score = float(np.clip(self.task.verify(turn.answer or ""), 0.0, 1.0))
            reward += self.correct_reward * score + self.format_reward
            terminated = True
            info |= {"success": score >= 1.0, "answer_score": score}
            record |= {"kind": "answer", "answer": turn.answer, "score": score}
            self.transcript += f"{shown}\n"
        elif turn is not None and turn.kind == "call":
            name = turn.tool or ""
            result_text, error = self._run_tool(name, turn.arguments or {})
            info |= {"tool_call": True, "tool_error": error is not None}
            if error is None and name in self.tool_rewards and name not in self.rewarded_tools:
                reward += self.tool_rewards[name]
                self.rewarded_tools.add(name)
            record |= {"kind": "call", "tool": name, "arguments": turn.arguments, "result": result_text}
            record["error"] = error
            self.results.append(result_text)
            self.transcript += f"{shown}\n{self.result_block(_clip(result_text, self.max_result_chars))}\n"
        else:
            reward -= self.invalid_penalty
            terminated = self.end_on_invalid
            info |= {"action_valid": False, "invalid_action": True}
            record |= {"tool": None if turn is None else turn.tool, "error": turn_error}
            self.transcript += f"{shown}\n{self.result_block('error: ' + str(turn_error))}\n"
        if record.get("result") is not None:
            record["result"] = _clip(record["result"], self.max_result_chars)
        record["action"] = _clip(text, self.max_action_chars)
        info["turn"] = json.dumps(record, default=str)
        return self._obs(), float(reward), terminated, False, info

    def _run_tool(self, name: str, arguments: dict[str, Any]) -> tuple[str, str | None]:
        """``(text shown to the model, error or None)``; never raises for what a tool does."""
        context = ToolContext(
            image=None if self.task is None else self.task.image, view=self.view, seed=self.task_seed
        )
        try:
            result = self.tools[name](arguments, context)
            view = None if result.image is None else fit_view(result.image, self.view_size)
            text, error = str(result.text), result.error
        except ToolError as err:
            return f"error: {err}", str(err)
        except Exception as err:  # a broken tool must not take the training run down  # noqa: BLE001
            log.warning("tool %s raised %s: %s", name, type(err).__name__, err)
            message = f"tool {name!r} failed: {type(err).__name__}: {err}"
            return f"error: {message}", message
        if view is not None:
            self.view = view
        return text, error

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the end of the conversation drawn as text (beside the view for image tasks)."""
        if self.render_mode != "rgb_array":
            return None
        from PIL import Image, ImageDraw

        width, height, chars = 640, 384, 100
        lines = [
            chunk for line in self.transcript.splitlines() for chunk in textwrap.wrap(line, chars) or [""]
        ]
        panel = Image.new("RGB", (width, height), (255, 255, 255))
        ImageDraw.Draw(panel).multiline_text(
            (6, 4), "\n".join(lines[-(height // 12) :]), fill=(0, 0, 0), spacing=1
        )
        frame = np.asarray(panel)
        if self.view is not None:
            view = np.zeros((height, self.view_size, 3), np.uint8)
            view[: min(height, self.view_size)] = self.view[:height]
            frame = np.concatenate([view, frame], axis=1)
        return frame

    def close(self) -> None:
        for tool in self.tools.values():
            tool.close()

    # ---- expert ----------------------------------------------------------------------------

    def expert_action(self, turn: ExpertTurn) -> str:
        """The action text of a scripted expert's turn in this env's format."""
        if turn.answer is not None:
            return f"{self.format.answer_open}{turn.answer}{self.format.answer_close}"
        return format_call(self.format, turn.tool or "", turn.arguments or {})


GYM_ID = "embodied_rl/ToolEnv-v0"


def make_tool_env(
    num_envs: int = 1,
    *,
    name: str = GYM_ID,
    max_turns: int = 4,
    vectorization: str = "sync",
    device: str = "cpu",
    async_context: str = "spawn",
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` tool envs as one contract vector env (factory of the registered ``Tool*`` envs).

    Args:
        num_envs: Batch size N.
        name: The registered name (shown in the spec).
        max_turns: Turns per episode before truncation (the time limit).
        vectorization: ``sync`` (one process) or ``async`` (one process per env: tool calls
            such as sandboxed Python then run in parallel).
        device / async_context: As for Gymnasium envs.
        **env_kwargs: :class:`ToolEnv` options.
    """
    from embodied_rl.envs.gymnasium_adapter import make_gymnasium_env

    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {max_turns}")
    return make_gymnasium_env(
        num_envs,
        gym_id=GYM_ID,
        name=name,
        family="tools",
        vectorization=vectorization,
        device=device,
        async_context=async_context,
        shared_memory=False,  # text observations hold arbitrary unicode
        max_episode_steps=max_turns,
        **env_kwargs,
    )
