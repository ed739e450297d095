"""What every tool and every task source of the tool environments provides.

A **tool** is a named function the model may call with JSON arguments. It describes itself
with a JSON schema (shown to the model and used to validate each call) and returns a
:class:`ToolResult`: text, and for image tools a new view image. A tool that rejects its
input raises :class:`ToolError`; the message goes back to the model as the tool's error.

A **task source** turns a seed into a :class:`Task`: the question, an optional image, the
reference answer and an exact verifier. Equal seeds give equal tasks (that is how GRPO
groups share a task).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied_rl.registry import Registry

__all__ = [
    "TASKS",
    "TOOLS",
    "ExpertTurn",
    "Task",
    "TaskSource",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "normalize_answer",
]


class ToolError(ValueError):
    """A tool rejects its input; the message is shown to the model as the tool's error."""


@dataclass
class ToolResult:
    """What a tool call returns.

    Attributes:
        text: Shown to the model inside the result tags.
        image: uint8 ``[H, W, 3]``: the new view (image tools); the env resizes it to its view size.
        error: Set when the call failed inside the tool (a sandbox timeout, a crashed program);
            ``text`` then holds what the model should see.
    """

    text: str
    image: np.ndarray | None = None
    error: str | None = None


@dataclass
class ToolContext:
    """What a tool may read about the current episode.

    Attributes:
        image: The task's full-resolution image (uint8 ``[H, W, 3]``), None for text tasks.
        view: The image the model currently sees (the last image a tool returned, resized).
        seed: The episode's seed.
    """

    image: np.ndarray | None = None
    view: np.ndarray | None = None
    seed: int = 0


class Tool(ABC):
    """A tool the model can call: ``name``, ``description``, a JSON schema of its ``parameters``."""

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {}

    def schema(self) -> dict[str, Any]:
        """``{"name", "description", "parameters"}``: what the model is shown."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    @abstractmethod
    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Run the tool on schema-valid ``arguments``; raise :class:`ToolError` to reject them."""

    def close(self) -> None:  # noqa: B027 - optional hook, most tools hold nothing
        """Release resources (subprocesses, indexes)."""


def normalize_answer(text: str) -> str:
    """Answer normal form for exact-match verifiers: lowercase, single spaces, no outer punctuation."""
    return " ".join(text.strip().strip(".,;:!?\"'`").lower().split())


@dataclass
class Task:
    """One episode's task.

    Attributes:
        question: The user's question (the env adds tool descriptions and format rules).
        answer: The reference answer (for logs and experts' checks; never shown to the model).
        verify: ``answer_text -> score in [0, 1]``; exact, deterministic.
        image: uint8 ``[H, W, 3]`` full-resolution task image, or None.
        meta: Task-source details (for logs; never shown to the model).
    """

    question: str
    answer: str
    verify: Callable[[str], float]
    image: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpertTurn:
    """One turn of a scripted expert: a tool call (``tool`` + ``arguments``) or an ``answer``."""

    tool: str | None = None
    arguments: dict[str, Any] | None = None
    answer: str | None = None

    def __post_init__(self) -> None:
        if (self.tool is None) == (self.answer is None):
            raise ValueError("an ExpertTurn is either a tool call or an answer")


class TaskSource(ABC):
    """Seeded tasks of one family; ``tools`` names the tools the family is meant to use.

    ``expert`` is the family's scripted expert: from what the model would see (the question,
    the texts of the tool results so far, the current view image) it picks the next turn.
    The env formats it as an action string, so expert traces are SFT data.
    """

    tools: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    """``(H, W)`` of task images, or None for text-only families."""

    @abstractmethod
    def sample(self, seed: int) -> Task:
        """The task for ``seed`` (same seed, same task)."""

    @abstractmethod
    def expert(self, question: str, results: list[str], view: np.ndarray | None) -> ExpertTurn:
        """The scripted expert's next turn given the question, previous tool results and view."""


TOOLS: Registry[Any] = Registry("tool")
"""name -> tool factory ``(**kwargs) -> Tool``."""

TASKS: Registry[Any] = Registry("task source")
"""name -> task source factory ``(**kwargs) -> TaskSource``."""
