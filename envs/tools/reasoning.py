"""Procedural tasks from ``reasoning-gym`` with its exact scorers, and scripted experts for them.

``ReasoningGymTasks("basic_arithmetic", min_terms=2, ...)`` wraps one reasoning-gym dataset
(all offline, seeded): the task for seed ``s`` is item ``s`` of the dataset generated with the
source's ``dataset_seed``, and the verifier is the dataset's own ``score_answer`` (1.0 = right;
some datasets, e.g. countdown, give small partial credit for a well-formed wrong answer).

Scripted experts (:meth:`ReasoningGymTasks.expert`) read only the question and tool results:

- arithmetic (``basic_arithmetic``, ``chain_sum``, ``products``): pull the expression out of
  the question, call ``calculator``, answer its result;
- ``gcd`` / ``lcm``: call ``calculator`` with ``gcd(a, b, ...)`` / ``lcm(...)``;
- ``countdown``: call ``python`` with a small search program that prints a solution, answer it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
from embodied_rl.envs.tools.base import ExpertTurn, Task, TaskSource

__all__ = ["COUNTDOWN_SOLVER", "EXPERT_DATASETS", "ReasoningGymTasks"]

_DATASET_SIZE = 1 << 30  # items are generated from (dataset_seed, index) on demand

_ARITHMETIC = ("basic_arithmetic", "chain_sum", "products")
EXPERT_DATASETS = (*_ARITHMETIC, "gcd", "lcm", "countdown")
"""Datasets with a scripted expert."""

_DEFAULT_TOOLS = {"countdown": ("python", "calculator")}

_EXPRESSION = re.compile(r"[-+*/()\d\s.]*\d[-+*/()\d\s.]*")

COUNTDOWN_SOLVER = """\
from fractions import Fraction
def solve(items, target):
    if len(items) == 1:
        return items[0][1] if items[0][0] == target else None
    for i in range(len(items)):
        for j in range(len(items)):
            if i == j:
                continue
            (a, ea), (b, eb) = items[i], items[j]
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            options = [(a + b, ea + '+' + eb), (a - b, ea + '-(' + eb + ')'), (a * b, '(' + ea + ')*(' + eb + ')')]
            if b != 0:
                options.append((a / b, '(' + ea + ')/(' + eb + ')'))
            for value, expr in options:
                found = solve(rest + [(value, expr)], target)
                if found:
                    return found
    return None
print(solve([(Fraction(n), str(n)) for n in {numbers}], {target}) or 'none')
"""
"""The program the countdown expert sends to the ``python`` tool: exhaustive search over all
expression trees of all the numbers (``+ - * /`` with exact fractions)."""


@lru_cache(maxsize=16)
def _dataset(name: str, dataset_seed: int, config: tuple[tuple[str, Any], ...]) -> Any:
    try:
        import reasoning_gym
    except ImportError as err:  # pragma: no cover - part of the [tools] extra
        raise ImportError("reasoning-gym is not installed: pip install 'embodied-rl[tools]'") from err
    return reasoning_gym.create_dataset(name, size=_DATASET_SIZE, seed=dataset_seed, **dict(config))


def _last_result(results: list[str]) -> str:
    return results[-1].strip().splitlines()[0].strip() if results and results[-1].strip() else ""


class ReasoningGymTasks(TaskSource):
    """One reasoning-gym dataset as a task source.

    Args:
        dataset: reasoning-gym dataset name (``basic_arithmetic``, ``countdown``, ``gcd``, ...).
        tools: Tools offered (default: ``calculator``; ``python`` and ``calculator`` for countdown).
        dataset_seed: Seed of the generator; the task seed picks the item.
        **config: The dataset's own options (e.g. ``min_terms=2, max_digits=2``).
    """

    def __init__(
        self,
        dataset: str = "basic_arithmetic",
        tools: list[str] | None = None,
        dataset_seed: int = 0,
        **config: Any,
    ) -> None:
        self.dataset = dataset
        self.config = tuple(sorted(config.items()))
        self.dataset_seed = int(dataset_seed)
        self.tools = tuple(tools) if tools else _DEFAULT_TOOLS.get(dataset, ("calculator",))
        self._data = _dataset(dataset, self.dataset_seed, self.config)  # fail early on a bad name/config

    def sample(self, seed: int) -> Task:
        entry = self._data[int(seed) % _DATASET_SIZE]
        data = self._data

        def verify(answer: str) -> float:
            try:
                return float(data.score_answer(answer, entry))
            except Exception:  # a scorer must not crash on odd model text  # noqa: BLE001
                return 0.0

        return Task(entry["question"], str(entry["answer"]), verify, meta=dict(entry.get("metadata", {})))

    def expert(self, question: str, results: list[str], view: np.ndarray | None) -> ExpertTurn:
        if self.dataset not in EXPERT_DATASETS:
            raise NotImplementedError(
                f"no scripted expert for reasoning-gym '{self.dataset}'; experts exist for {EXPERT_DATASETS}"
            )
        if results:
            return ExpertTurn(answer=_last_result(results) or "unknown")
        first_line = question.strip().splitlines()[0]
        if self.dataset == "countdown":
            match = re.search(r"(?:make|Calculate|equals) (\d+)", first_line)
            listed = re.search(r"numbers:? ([\d, ]+)", first_line)
            if match is None or listed is None:
                return ExpertTurn(answer="unknown")
            target, numbers = int(match.group(1)), [int(x) for x in re.findall(r"\d+", listed.group(1))]
            return ExpertTurn(
                tool="python", arguments={"code": COUNTDOWN_SOLVER.format(numbers=numbers, target=target)}
            )
        if self.dataset in ("gcd", "lcm"):
            numbers = re.findall(r"\d+", first_line.split(":", 1)[1])
            return ExpertTurn(
                tool="calculator", arguments={"expression": f"{self.dataset}({', '.join(numbers)})"}
            )
        body = first_line.split(":", 1)[1] if ":" in first_line else first_line
        candidates = [m.strip(" .=") for m in _EXPRESSION.findall(body)]
        expression = max(candidates, key=len) if candidates else body
        return ExpertTurn(tool="calculator", arguments={"expression": expression})
