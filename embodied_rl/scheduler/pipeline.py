"""The pipelined collector: S stages of env workers, one stage simulating while another infers.

The N envs are split into S groups (stages), each in its own :class:`EnvWorker`
process. For every stage the loop is: wait for its step, store it, run the policy on
its new observations, send the actions, and move on to the next stage, so while
stage k's batch is in the policy the other stages' simulators are running. With
sim time T_s and inference time T_i per step of all N envs, a synchronous step costs
T_s + T_i and a pipelined one about max(T_s, T_i) (see :mod:`.timing`).

It fills the same :class:`RolloutBuffer` as :class:`SyncCollector` (stage k owns
buffer columns ``offsets[k]:offsets[k+1]``), with the same seeds per env, so with a
deterministic policy both produce the same episodes.

Faults: a worker that crashes, hangs past ``timeout_s`` or whose env raises is
restarted (fresh seeds); its envs' unfinished episodes are dropped (masked out of
the batch, counted in ``RolloutStats.episodes_dropped``) and collection goes on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from embodied_rl.envs.core import EnvSpec, Obs, check_finite
from embodied_rl.policies.core import Policy
from embodied_rl.rollout.buffer import RolloutBuffer
from embodied_rl.rollout.collector import PolicyActing, RolloutStats
from embodied_rl.scheduler.worker import EnvWorker, EnvWorkerError

log = logging.getLogger(__name__)

FAULT_SEED_STRIDE = 1_000_003
"""Seed offset per restart of a worker (keeps restarted envs reproducible and apart)."""


def split_envs(num_envs: int, stages: int) -> list[int]:
    """Envs per stage: ``num_envs`` split into ``stages`` sizes differing by at most one.

    >>> split_envs(10, 4)
    [3, 3, 2, 2]
    """
    if stages < 1 or num_envs < stages:
        raise ValueError(f"cannot split {num_envs} envs into {stages} stages (need 1 <= stages <= num_envs)")
    base, extra = divmod(num_envs, stages)
    return [base + (k < extra) for k in range(stages)]


def _stage_seeds(seed: int | list[int] | None, rows: slice) -> int | list[int] | None:
    """The slice of a vector reset seed that belongs to one stage (int seeds count up per env)."""
    if seed is None:
        return None
    if isinstance(seed, int):
        return seed + rows.start
    return list(seed[rows])


class PipelinedCollector(PolicyActing):
    """Steps S env-worker stages with one policy and fills rollout buffers (PPO and GRPO)."""

    def __init__(
        self,
        workers: list[EnvWorker],
        policy: Policy,
        env_name: str = "env",
        autocast: Callable[[], Any] = contextlib.nullcontext,
        deterministic: bool = False,
        max_restarts: int = 10,
    ) -> None:
        if not workers:
            raise ValueError("a pipelined collector needs at least one env worker")
        super().__init__(policy, env_name, autocast, deterministic)
        self.workers = workers
        self.max_restarts = max_restarts
        self.restarts = 0
        bounds = [0]
        for w in workers:
            if w.num_envs == 0:
                raise EnvWorkerError(f"{w.name} is not started (call start() on every worker first)")
            bounds.append(bounds[-1] + w.num_envs)
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.num_envs = bounds[-1]
        self.obs: list[Obs | None] = [None] * len(workers)
        self._seed: int | list[int] | None = None

    @property
    def stages(self) -> int:
        return len(self.workers)

    @property
    def spec(self) -> EnvSpec:
        spec = self.workers[0].spec
        assert spec is not None
        return spec

    def close(self) -> None:
        for w in self.workers:
            w.close()

    # ---- reset and faults ----------------------------------------------------------------

    def reset(self, seed: int | list[int] | None = None) -> None:
        self._seed = seed
        for w, rows in zip(self.workers, self.slices, strict=True):
            w.reset_async(_stage_seeds(seed, rows))
        for k, w in enumerate(self.workers):
            try:
                self.obs[k] = w.reset_wait()[0]
            except EnvWorkerError as err:
                self.obs[k] = self._restart(k, err)

    def _restart(self, k: int, err: EnvWorkerError) -> Obs:
        """Restart stage ``k``'s worker and reset its envs on fresh seeds; returns their obs."""
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise EnvWorkerError(
                f"{self.restarts} env-worker restarts in this run (scheduler.max_restarts="
                f"{self.max_restarts}); giving up. Last fault: {err}"
            ) from err
        log.warning("env worker %d failed, restarting it (%d so far): %s", k, self.restarts, err)
        worker = self.workers[k]
        worker.restart()
        base = self._seed if isinstance(self._seed, int) else 0
        seed = _stage_seeds(base + FAULT_SEED_STRIDE * self.restarts, self.slices[k])
        worker.reset_async(seed)
        return worker.reset_wait()[0]

    # ---- one stage's step ----------------------------------------------------------------

    def _launch(self, k: int, stats: RolloutStats) -> Any:
        """Policy on stage ``k``'s current obs, then send its actions (returns the policy output)."""
        out = self._act(self.obs[k], stats)
        self.workers[k].step_async(out.actions)
        return out

    def _wait(self, k: int, stats: RolloutStats) -> tuple | None:
        """Stage ``k``'s step result, or None after a fault (its worker restarted, obs reset)."""
        start = time.perf_counter()
        try:
            obs, reward, terminated, truncated, info, busy = self.workers[k].step_wait()
        except EnvWorkerError as err:
            stats.wait_time += time.perf_counter() - start
            self.obs[k] = self._restart(k, err)
            stats.workers_restarted += 1
            return None
        stats.wait_time += time.perf_counter() - start
        stats.env_time += busy
        stats.stage_env_time[k] += busy
        stats.env_steps += self.workers[k].num_envs
        stats.add_episodes(info)
        return obs, reward, terminated, truncated, info

    def _new_stats(self) -> RolloutStats:
        return RolloutStats(
            stages=self.stages, stage_env_time=[0.0] * self.stages, policy_version=self.policy_version
        )

    # ---- PPO: T steps of every env -------------------------------------------------------

    @torch.no_grad()
    def collect_steps(self, buffer: RolloutBuffer) -> RolloutStats:
        """Fill ``buffer`` with ``buffer.num_steps`` steps of every env (episodes continue across calls)."""
        if any(o is None for o in self.obs):
            raise RuntimeError("call reset(seed) before collecting")
        if buffer.num_envs != self.num_envs:
            raise ValueError(f"buffer has {buffer.num_envs} envs, the workers hold {self.num_envs}")
        stats = self._new_stats()
        start = time.perf_counter()
        buffer.final_values.zero_()
        buffer.mask.fill_(True)
        episode_start = torch.zeros(self.num_envs, dtype=torch.long)
        has_value = self.policy.has_value_head
        outs = [self._launch(k, stats) for k in range(self.stages)]
        for t in range(buffer.num_steps):
            for k, rows in enumerate(self.slices):
                obs, out = self.obs[k], outs[k]
                result = self._wait(k, stats)
                if result is None:  # fault: cut and drop the stage's unfinished episodes
                    n = rows.stop - rows.start
                    cut = torch.ones(n, dtype=torch.bool)
                    zero = torch.zeros(n)
                    buffer.add(
                        t, obs, out.actions, out.log_prob, out.value, zero, ~cut, cut, out.extras, rows
                    )
                    for i in range(rows.start, rows.stop):
                        buffer.mask[int(episode_start[i]) : t + 1, i] = False
                    episode_start[rows] = t + 1
                    stats.episodes_dropped += n
                else:
                    next_obs, reward, terminated, truncated, info = result
                    buffer.add(
                        t, obs, out.actions, out.log_prob, out.value, reward, terminated, truncated,
                        out.extras, rows,
                    )  # fmt: skip
                    if truncated.any() and has_value:
                        final_values = self.policy.value(info["final_obs"]).to(buffer.device)
                        buffer.final_values[t, rows] = torch.where(
                            truncated.to(buffer.device), final_values, 0.0
                        )
                    done = terminated | truncated
                    episode_start[rows] = torch.where(done, t + 1, episode_start[rows])
                    self.obs[k] = next_obs
                if t + 1 < buffer.num_steps:
                    outs[k] = self._launch(k, stats)
        if has_value:
            for k, rows in enumerate(self.slices):
                check_finite(self.obs[k], f"env '{self.env_name}'")
                buffer.last_values[rows] = self.policy.value(self.obs[k]).to(buffer.device)
        stats.wall_time = time.perf_counter() - start
        return stats

    # ---- GRPO: one episode per env from given seeds --------------------------------------

    @torch.no_grad()
    def collect_episodes(self, buffer: RolloutBuffer, seeds: list[int]) -> tuple[RolloutStats, torch.Tensor]:
        """One episode per env from ``seeds`` (GRPO); returns stats and per-env returns ``[N]``.

        As :meth:`SyncCollector.collect_episodes`. Envs of a stage whose worker failed are
        listed in ``stats.dropped_envs`` and fully masked out.
        """
        stats = self._new_stats()
        start = time.perf_counter()
        self.reset(seed=seeds)
        buffer.mask.zero_()
        buffer.final_values.zero_()
        active = torch.ones(self.num_envs, dtype=torch.bool)
        dropped = torch.zeros(self.num_envs, dtype=torch.bool)
        outs: list[Any] = [self._launch(k, stats) for k in range(self.stages)]
        for t in range(buffer.num_steps):
            for k, rows in enumerate(self.slices):
                if outs[k] is None:
                    continue  # this stage has finished its episodes
                obs, out = self.obs[k], outs[k]
                result = self._wait(k, stats)
                if result is None:
                    n = rows.stop - rows.start
                    cut = torch.ones(n, dtype=torch.bool)
                    buffer.add(t, obs, out.actions, out.log_prob, out.value, torch.zeros(n), ~cut, cut,
                               out.extras, rows)  # fmt: skip
                    dropped[rows] = True
                    active[rows] = False
                    stats.episodes_dropped += int(n)
                else:
                    next_obs, reward, terminated, truncated, _ = result
                    buffer.add(t, obs, out.actions, out.log_prob, out.value, reward, terminated, truncated,
                               out.extras, rows)  # fmt: skip
                    buffer.mask[t, rows] = active[rows].to(buffer.device)
                    active[rows] &= ~(terminated | truncated)
                    self.obs[k] = next_obs
                outs[k] = self._launch(k, stats) if active[rows].any() and t + 1 < buffer.num_steps else None
            if not any(o is not None for o in outs):
                break
        buffer.mask[:, dropped.to(buffer.device)] = False
        stats.dropped_envs = dropped.nonzero().flatten().tolist()
        stats.wall_time = time.perf_counter() - start
        returns = (buffer.rewards * buffer.mask).sum(0)
        return stats, returns
