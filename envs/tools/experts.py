"""Scripted experts for the tool envs: the task source's expert, written in the env's format.

The expert reads what a model reads: ``instruction`` (the question), the tool results in
``text`` (between the result tags) and the ``view`` image, asks the task source for its next
turn (:meth:`~embodied_rl.envs.tools.base.TaskSource.expert`) and writes it as a tool call or
an answer. Its traces are the SFT data of the text agent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from embodied_rl.envs.core import Obs
from embodied_rl.envs.tools.env import ToolEnv

__all__ = ["tool_expert", "tool_results"]

_VECTOR_KWARGS = ("name", "max_turns", "vectorization", "device", "async_context", "clip_actions")


def tool_results(text: str, open_tag: str, close_tag: str) -> list[str]:
    """The texts of the tool-result blocks of a transcript, in order (after the question)."""
    body = text.split("\nQuestion: ", 1)[-1]
    out: list[str] = []
    start = body.find(open_tag)
    while start != -1:
        end = body.find(close_tag, start)
        if end == -1:
            break
        out.append(body[start + len(open_tag) : end])
        start = body.find(open_tag, end)
    return out


def tool_expert(noise: float = 0.0, **env_kwargs: Any):
    """``(obs, rng) -> list[str]``: the scripted expert of a tool env made with ``env_kwargs``.

    With ``noise`` > 0 the expert answers ``"unknown"`` instead of its turn with that
    probability (imperfect demonstrations).
    """
    env = ToolEnv(**{k: v for k, v in env_kwargs.items() if k not in _VECTOR_KWARGS})
    fmt = env.format

    def act(obs: Obs, rng: np.random.Generator) -> list[str]:
        actions = []
        views = obs.get("images", {}).get("view")
        for i, question in enumerate(obs["instruction"]):
            results = tool_results(obs["text"][i], fmt.result_open, fmt.result_close)
            view = (
                None
                if views is None
                else np.asarray(views[i].cpu() if hasattr(views[i], "cpu") else views[i])
            )
            if noise > 0 and rng.random() < noise:
                actions.append(f"{fmt.answer_open}unknown{fmt.answer_close}")
                continue
            actions.append(env.expert_action(env.source.expert(question, results, view)))
        return actions

    return act
