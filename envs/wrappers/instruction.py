"""Add a fixed language instruction to every observation (tasks whose sentence never changes)."""

from __future__ import annotations

from embodied_rl.envs.core import AnyText, Obs
from embodied_rl.envs.wrappers.base import ObservationTransform, require_env_spec
from gymnasium import spaces


class ConstantInstruction(ObservationTransform):
    """``obs["instruction"]`` = the task's sentence for every env (also in ``info["final_obs"]``).

    Added in the main process rather than in each env worker: the sentence is the same for
    the whole run, and strings do not travel through Gymnasium's shared-memory buffers.

    Args:
        env: A contract vector env without an ``instruction`` key.
        instruction: The sentence.
        max_length: Longest instruction the spec's ``Text`` space admits.
    """

    def __init__(self, env, instruction: str, max_length: int = 512) -> None:
        spec = require_env_spec(env, "ConstantInstruction")
        if "instruction" in spec.observation_space.spaces:
            raise ValueError(f"{spec.name} already has an instruction key")
        if len(instruction) > max_length:
            raise ValueError(f"instruction is {len(instruction)} characters; the limit is {max_length}")
        space = spaces.Dict(
            {**spec.observation_space.spaces, "instruction": AnyText(max_length, min_length=0)}
        )
        super().__init__(env, observation_space=space)
        self.instruction = instruction

    def transform(self, obs: Obs) -> Obs:
        return {**obs, "instruction": [self.instruction] * self.num_envs}
