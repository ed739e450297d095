"""Microseconds per vector step of our contract layer alone (``TorchVectorEnv``), without a simulator.

``embodied_rl.envs.make("HalfCheetah-v5", num_envs=N)`` is built, then its inner Gymnasium vector env
is replaced by a stub that returns fixed HalfCheetah-shaped arrays (17-D observations, rewards,
terminations and the env's own info keys) at once. Timing ``step`` then measures only what our layer
adds: action checks and conversion, info merging and the numpy -> torch conversions. This separates
our cost from the simulator-instance variation that dominates the side-by-side ratios of
``benchmarks/env_overhead.py`` on a noisy machine (docs/results/env_overhead/README.md).

Run (seconds; one torch thread)::

    .venv/bin/python benchmarks/wrapper_layer.py --num-envs 4,16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from embodied_rl.envs import make


class _StubVectorEnv:
    """Returns the same HalfCheetah-shaped step results every call (fresh arrays, as Gymnasium does)."""

    def __init__(self, inner: object, num_envs: int) -> None:
        self.single_action_space = inner.single_action_space
        self.action_space = inner.action_space
        self.num_envs = num_envs
        _, _, _, _, self._info = inner.step(np.zeros((num_envs, 6), np.float32))
        self._obs = np.zeros((num_envs, 17))

    def step(self, actions: np.ndarray) -> tuple:
        done = np.zeros(self.num_envs, bool)
        return self._obs, np.zeros(self.num_envs), done, done.copy(), dict(self._info)


def layer_us(num_envs: int, steps: int, rounds: int) -> list[float]:
    """Per-round microseconds per vector step of ``TorchVectorEnv.step`` over the stub."""
    env = make("HalfCheetah-v5", num_envs=num_envs)
    env.reset(seed=0)
    inner = env.env
    env.env = _StubVectorEnv(inner, num_envs)
    actions = torch.zeros(num_envs, 6)
    out = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(steps):
                env.step(actions)
            out.append((time.perf_counter() - start) / steps * 1e6)
    finally:
        inner.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", default="4,16")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| N | our layer, us per vector step (median) | min | max |\n|---:|---:|---:|---:|")
    for n in (int(x) for x in args.num_envs.split(",")):
        us = layer_us(n, args.steps, args.rounds)
        print(f"| {n} | {statistics.median(us):.1f} | {min(us):.1f} | {max(us):.1f} |")


if __name__ == "__main__":
    main()
