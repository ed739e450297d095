"""Tool environments: multi-turn tool use with verifiable answers (see ``env.py``).

Registries (lazy, nothing heavy is imported until used):

- :data:`TOOLS`: ``calculator``, ``python`` (bubblewrap sandbox), ``search`` (BM25 over a local
  corpus), ``crop_image`` / ``zoom_image`` / ``rotate_image``;
- :data:`TASKS`: ``reasoning_gym`` (any reasoning-gym dataset), ``knowledge_qa`` (questions
  over the shipped fictional corpus), ``zoom_count`` (synthetic images that need a zoom).
"""

from __future__ import annotations

from embodied_rl.envs.tools.base import TASKS, TOOLS

_T = "embodied_rl.envs.tools"
TOOLS.register("calculator", f"{_T}.builtin:CalculatorTool", description="exact arithmetic (sympy)")
TOOLS.register("python", f"{_T}.builtin:PythonTool", description="Python in a bubblewrap sandbox")
TOOLS.register("search", f"{_T}.search:SearchTool", description="BM25 search over a local corpus")
TOOLS.register("crop_image", f"{_T}.image:CropImage", description="crop the task image to a bbox")
TOOLS.register("zoom_image", f"{_T}.image:ZoomImage", description="zoom into the task image")
TOOLS.register("rotate_image", f"{_T}.image:RotateImage", description="rotate the task image")

TASKS.register("reasoning_gym", f"{_T}.reasoning:ReasoningGymTasks", description="a reasoning-gym dataset")
TASKS.register("knowledge_qa", f"{_T}.knowledge:KnowledgeQA", description="questions over the shipped corpus")
TASKS.register("zoom_count", f"{_T}.zoom_tasks:ZoomCount", description="count small dots; needs a zoom")

__all__ = ["TASKS", "TOOLS"]
