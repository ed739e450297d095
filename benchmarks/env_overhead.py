"""Env steps/s of the raw simulators vs the same simulators through our contract env (``make``).

Per case, two sides, in one run, with the same task, observation mode, number of envs, seeds and
actions, both vectorised by Gymnasium's ``SyncVectorEnv`` in this process with ``SAME_STEP``
autoreset, so the only difference is our layer (observation mapping, action checks, torch
conversion, info merging):

- ``pushcube-state``, ``pushcube-rgb``, ``pickcube-state``, ``pickcube-rgb``: ManiSkill3
  ``PushCube-v1`` / ``PickCube-v1`` on the CPU backend, ``pd_ee_delta_pose`` controller, cameras
  128x128 (``rgb``: ManiSkill's ``base_camera``).

  - raw: ``SyncVectorEnv([lambda: CPUGymWrapper(gym.make(task, num_envs=1, obs_mode=...,
    control_mode="pd_ee_delta_pose", sim_backend="physx_cpu", render_backend="cpu",
    sensor_configs=dict(width=128, height=128)))] * N, autoreset_mode=SAME_STEP)``
    (ManiSkill's own numpy wrapper; the task's own time limit, 50 steps);
  - ours: ``embodied_rl.envs.make("ManiSkill-<task>", num_envs=N, vectorization="sync",
    obs_mode=..., image_size=128)`` (ManiSkillTaskEnv, SimulatorGuard, TorchVectorEnv,
    ConstantInstruction; time limit 50 steps).

- ``halfcheetah``: Gymnasium MuJoCo ``HalfCheetah-v5``, state observations (1000-step episodes).

  - raw: ``SyncVectorEnv([lambda: gym.make("HalfCheetah-v5")] * N, autoreset_mode=SAME_STEP)``;
  - ours: ``embodied_rl.envs.make("HalfCheetah-v5", num_envs=N)`` (sync by default).

- ``libero-rgb``: LIBERO ``libero_spatial`` task 0, agentview + wrist cameras at 128x128, OSC_POSE.

  - raw: LIBERO's ``OffScreenRenderEnv`` built as our LiberoEnv builds it (same cameras and sizes,
    ``hard_reset=False``, ``ignore_done=True``), seen as a minimal Gymnasium env
    (:class:`RawLiberoEnv`: the robosuite observations the LIBERO eval code reads, unrotated:
    both images, ``robot0_eef_pos``, ``robot0_eef_quat``, ``robot0_gripper_qpos``; ``terminated``
    = LIBERO's ``done`` (success); reset = init state + 10 settle steps, like the eval code) in
    ``SyncVectorEnv``;
  - ours: ``embodied_rl.envs.make("LIBERO-spatial-v0", num_envs=N, task_id=0,
    vectorization="sync", obs_mode="rgb", image_size=128)``.

  Needs ``libero``, ``robosuite`` and the scene assets (``make install``); skipped with the reason
  printed otherwise. Memory: one side's envs are alive at a time; the smoke run (N=2) peaked at
  3.1 GB resident, so ``--num-envs 4`` needs ~6 GB free.

The raw vector envs use Gymnasium's default ``copy=True`` (what a plain user gets); ours uses
``copy=False`` and copies the arrays into fresh tensors instead (``make_gymnasium_env``'s choice).

Actions: a fixed sequence from ``numpy.random.default_rng(--seed)``, uniform in the action
space's bounds (``--actions random``, the default) or all zeros (``--actions zero``); the same
float32 arrays on both sides (numpy for raw, ``torch.from_numpy`` of them for ours, made before
timing). Env ``i`` resets with seed ``--seed + i`` on both sides.

Timing: per (round, case, side) the vector env is created and reset (not timed), stepped
``--warmup`` vector steps (not timed), then ``--steps`` vector steps are timed; autoresets inside
the loop are included. Env steps/s = vector steps * N / wall seconds. The env is closed before the
next side starts. Each round (``--repeats``) times every case on both sides, the side that goes
first alternating between cases and rounds; medians over rounds are reported with the ratio
ours/raw of the medians (goal: >= 0.95) and our overhead per vector step,
``N / ours - N / raw`` in microseconds. Default timed steps per case: 200 for the ManiSkill state
cases, 50 for the camera cases (rgb, LIBERO), 2000 for HalfCheetah (its raw env does ~20k
steps/s: 200 vector steps would take ~40 ms, too short to time); ``--steps`` sets all of them.

Run it (about 15-25 minutes with the defaults on a 2-core machine, extrapolated from smoke runs:
LIBERO ~60% of it (~0.5 s per env step with two cameras on CPU rendering), ManiSkill rgb ~30%;
nothing else should run meanwhile)::

    .venv/bin/python benchmarks/env_overhead.py                        # all cases, N=4, 3 rounds
    .venv/bin/python benchmarks/env_overhead.py --cases halfcheetah --steps 5 --warmup 1 \\
        --repeats 1 --num-envs 2 --out /tmp/env_overhead               # smoke run, seconds

Writes ``env_overhead.json`` (meta, summary, every timed run, skipped and failed cases) and
``env_overhead.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import json
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

SIDES = ("raw", "ours")
GOAL = 0.95
IMAGE_SIZE = 128
MANISKILL_CONTROL = "pd_ee_delta_pose"
LIBERO_SUITE = "libero_spatial"
LIBERO_TASK_ID = 0


class Case(NamedTuple):
    name: str
    kind: str  # "maniskill" | "gymnasium" | "libero"
    task: str
    obs_mode: str
    steps: int  # default timed vector steps
    description: str


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("pushcube-state", "maniskill", "PushCube-v1", "state", 200, "ManiSkill PushCube-v1, state"),
        Case("pushcube-rgb", "maniskill", "PushCube-v1", "rgb", 50, "ManiSkill PushCube-v1, rgb 128 px"),
        Case("pickcube-state", "maniskill", "PickCube-v1", "state", 200, "ManiSkill PickCube-v1, state"),
        Case("pickcube-rgb", "maniskill", "PickCube-v1", "rgb", 50, "ManiSkill PickCube-v1, rgb 128 px"),
        Case("halfcheetah", "gymnasium", "HalfCheetah-v5", "state", 2000, "Gymnasium HalfCheetah-v5, state"),
        Case(
            "libero-rgb",
            "libero",
            f"{LIBERO_SUITE}/{LIBERO_TASK_ID}",
            "rgb",
            50,
            f"LIBERO {LIBERO_SUITE} task {LIBERO_TASK_ID}, agentview + wrist 128 px",
        ),
    )
}


# ---- availability --------------------------------------------------------------------------------


def unavailable(case: Case) -> str:
    """Why ``case`` cannot run on this machine ("" when it can)."""
    if case.kind == "maniskill":
        if importlib.util.find_spec("mani_skill") is None:
            return "mani_skill is not installed (pip install 'embodied-rl[maniskill]')"
        from embodied_rl.envs.maniskill.vulkan import vulkan_driver_available

        if not vulkan_driver_available():
            return "no Vulkan driver for SAPIEN (make vulkan)"
        return ""
    if case.kind == "gymnasium":
        if importlib.util.find_spec("mujoco") is None:
            return "mujoco is not installed (pip install 'embodied-rl[mujoco]')"
        return ""
    if case.kind == "libero":
        try:
            from embodied_rl.envs.libero import runtime
        except ImportError as err:
            return f"envs/libero cannot be imported ({err})"
        try:
            runtime.check_available()
            runtime.import_libero()
        except Exception as err:  # noqa: BLE001  (LiberoUnavailable, or LIBERO failing to import)
            return f"LIBERO is not usable here: {type(err).__name__}: {err}"
        return ""
    raise ValueError(f"unknown case kind {case.kind!r}")


# ---- raw envs ------------------------------------------------------------------------------------


def make_raw_maniskill_single(task: str, obs_mode: str) -> Any:
    """One ManiSkill env (CPU backend, num_envs=1) in ManiSkill's own numpy wrapper."""
    from embodied_rl.envs.maniskill.vulkan import prepare_vulkan

    prepare_vulkan()
    import gymnasium as gym
    import mani_skill.envs  # noqa: F401  (registers the tasks)
    from mani_skill.utils.wrappers.gymnasium import CPUGymWrapper

    return CPUGymWrapper(
        gym.make(
            task,
            num_envs=1,
            obs_mode=obs_mode,
            control_mode=MANISKILL_CONTROL,
            sim_backend="physx_cpu",
            render_backend="cpu",
            sensor_configs=dict(width=IMAGE_SIZE, height=IMAGE_SIZE),
        )
    )


def _libero_gym_env_class() -> type:
    import gymnasium as gym
    from gymnasium import spaces

    class RawLiberoEnv(gym.Env):
        """LIBERO's ``OffScreenRenderEnv`` as a minimal Gymnasium env (no contract mapping).

        Built with the options our LiberoEnv uses; observations are the robosuite arrays the LIBERO
        eval code reads, as robosuite returns them; ``terminated`` is LIBERO's ``done`` (its
        success check); reset loads a shipped init state and runs the settle steps (eval code).
        """

        metadata = {"render_modes": []}
        KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
        CAMERAS = ("agentview", "robot0_eye_in_hand")

        def __init__(self, suite: str, task_id: int, image_size: int) -> None:
            from embodied_rl.envs.libero import runtime
            from embodied_rl.envs.libero.tasks import MAX_EPISODE_STEPS, SETTLE_STEPS

            runtime.import_libero()  # LIBERO's config file and asset path; no prompt
            from libero.libero import benchmark
            from libero.libero.envs import OffScreenRenderEnv

            bench = benchmark.get_benchmark_dict()[suite]()
            self.sim = OffScreenRenderEnv(
                bddl_file_name=bench.get_task_bddl_file_path(task_id),
                controller="OSC_POSE",
                camera_heights=image_size,
                camera_widths=image_size,
                use_camera_obs=True,
                camera_names=list(self.CAMERAS),
                hard_reset=False,
                ignore_done=True,
            )
            self.sim.seed(0)
            self.init_states = np.asarray(bench.get_task_init_states(task_id))
            self.max_episode_steps = MAX_EPISODE_STEPS[suite]
            self.settle_steps = SETTLE_STEPS
            self.settle_action = np.array([0, 0, 0, 0, 0, 0, -1], dtype=np.float64)
            self._steps = 0
            image = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
            obs: dict[str, spaces.Space] = {f"{c}_image": image for c in self.CAMERAS}
            obs["robot0_eef_pos"] = spaces.Box(-np.inf, np.inf, (3,), np.float64)
            obs["robot0_eef_quat"] = spaces.Box(-np.inf, np.inf, (4,), np.float64)
            obs["robot0_gripper_qpos"] = spaces.Box(-np.inf, np.inf, (2,), np.float64)
            self.observation_space = spaces.Dict(obs)
            self.action_space = spaces.Box(-1.0, 1.0, (7,), np.float32)

        def _obs(self, raw: dict[str, Any]) -> dict[str, Any]:
            return {k: raw[k] for k in self.observation_space.spaces}

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
            super().reset(seed=seed)
            count = len(self.init_states)
            index = int(seed) % count if seed is not None else int(self.np_random.integers(count))
            self.sim.reset()
            raw = self.sim.set_init_state(self.init_states[index])
            for _ in range(self.settle_steps):
                raw, _, _, _ = self.sim.step(self.settle_action)
            self._steps = 0
            return self._obs(raw), {}

        def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
            raw, reward, done, info = self.sim.step(np.asarray(action, dtype=np.float64))
            self._steps += 1
            truncated = self._steps >= self.max_episode_steps and not done
            return self._obs(raw), float(reward), bool(done), truncated, {}

        def close(self) -> None:
            if getattr(self, "sim", None) is not None:
                sim, self.sim = self.sim, None
                sim.close()

    return RawLiberoEnv


def make_raw_libero_single(suite: str, task_id: int, image_size: int) -> Any:
    return _libero_gym_env_class()(suite, task_id, image_size)


def make_raw(case: Case, num_envs: int) -> Any:
    import gymnasium as gym

    if case.kind == "maniskill":
        factory = functools.partial(make_raw_maniskill_single, case.task, case.obs_mode)
    elif case.kind == "gymnasium":
        factory = functools.partial(gym.make, case.task)
    elif case.kind == "libero":
        factory = functools.partial(make_raw_libero_single, LIBERO_SUITE, LIBERO_TASK_ID, IMAGE_SIZE)
    else:
        raise ValueError(case.kind)
    return gym.vector.SyncVectorEnv([factory] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def make_ours(case: Case, num_envs: int) -> Any:
    import embodied_rl.envs as envs

    if case.kind == "maniskill":
        return envs.make(
            f"ManiSkill-{case.task}",
            num_envs=num_envs,
            vectorization="sync",
            obs_mode=case.obs_mode,
            image_size=IMAGE_SIZE,
        )
    if case.kind == "gymnasium":
        return envs.make(case.task, num_envs=num_envs)
    if case.kind == "libero":
        from embodied_rl.envs.libero.tasks import env_name

        return envs.make(
            env_name(LIBERO_SUITE),
            num_envs=num_envs,
            task_id=LIBERO_TASK_ID,
            vectorization="sync",
            obs_mode="rgb",
            image_size=IMAGE_SIZE,
        )
    raise ValueError(case.kind)


# ---- timing --------------------------------------------------------------------------------------


def action_sequence(space: Any, total: int, num_envs: int, seed: int, mode: str) -> np.ndarray:
    """``float32[total, num_envs, *shape]``: uniform in the single action space's bounds, or zeros."""
    shape = (total, num_envs, *space.shape)
    if mode == "zero":
        return np.zeros(shape, dtype=np.float32)
    rng = np.random.default_rng(seed)
    low = np.broadcast_to(np.asarray(space.low, dtype=np.float64), space.shape)
    high = np.broadcast_to(np.asarray(space.high, dtype=np.float64), space.shape)
    return rng.uniform(low, high, size=shape).astype(np.float32)


def _count(x: Any) -> int:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return int(np.count_nonzero(np.asarray(x)))


def time_side(
    side: str, case: Case, num_envs: int, *, steps: int, warmup: int, seed: int, actions_mode: str
) -> dict[str, Any]:
    """Create, reset and warm up one side's vector env, then time ``steps`` vector steps."""
    import torch

    env = None
    try:
        t0 = time.perf_counter()
        env = make_raw(case, num_envs) if side == "raw" else make_ours(case, num_envs)
        env.reset(seed=[seed + i for i in range(num_envs)])
        create_s = time.perf_counter() - t0
        space = env.single_action_space
        seq = action_sequence(space, warmup + steps, num_envs, seed, actions_mode)
        if side == "raw":
            actions: list[Any] = [seq[t] for t in range(len(seq))]
        else:
            actions = [torch.from_numpy(seq[t]) for t in range(len(seq))]
        for t in range(warmup):
            env.step(actions[t])
        ended = 0
        start = time.perf_counter()
        for t in range(warmup, warmup + steps):
            _, _, terminated, truncated, _ = env.step(actions[t])
            ended += _count(terminated) + _count(truncated)
        wall = time.perf_counter() - start
    finally:
        if env is not None:
            env.close()
        del env
        gc.collect()
    return {
        "case": case.name,
        "side": side,
        "num_envs": num_envs,
        "steps_per_s": steps * num_envs / wall,
        "wall_s": wall,
        "us_per_vector_step": wall / steps * 1e6,
        "vector_steps": steps,
        "env_steps": steps * num_envs,
        "episodes_ended": ended,
        "action_shape": list(space.shape),
        "create_reset_s": create_s,
    }


def run(
    cases: list[Case],
    steps: dict[str, int],
    num_envs: int,
    warmup: int,
    repeats: int,
    seed: int,
    actions_mode: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Every timed run, the per-case summary and the cases that failed (error text)."""
    runs: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    counter = 0
    for r in range(repeats):
        for case in cases:
            if case.name in failed:
                continue
            order = SIDES if counter % 2 == 0 else SIDES[::-1]
            counter += 1
            for side in order:
                try:
                    out = time_side(
                        side,
                        case,
                        num_envs,
                        steps=steps[case.name],
                        warmup=warmup,
                        seed=seed,
                        actions_mode=actions_mode,
                    )
                except Exception as err:  # noqa: BLE001  (one broken case must not lose the others)
                    traceback.print_exc()
                    failed[case.name] = f"{side}: {type(err).__name__}: {err}"
                    print(f"[round {r + 1}/{repeats}] {case.name} {side}: FAILED ({err}); case dropped")
                    break
                out["repeat"] = r
                runs.append(out)
                print(
                    f"[round {r + 1}/{repeats}] {case.name:>14} {side:>4}: {out['steps_per_s']:9.1f} steps/s "
                    f"({out['env_steps']} env steps in {out['wall_s']:.2f} s, "
                    f"{out['us_per_vector_step']:.0f} us/vector step, {out['episodes_ended']} episodes ended; "
                    f"create+reset {out['create_reset_s']:.1f} s)",
                    flush=True,
                )
    summary = []
    for case in cases:
        if case.name in failed:
            continue
        per = {s: [x for x in runs if x["case"] == case.name and x["side"] == s] for s in SIDES}
        raw = statistics.median(x["steps_per_s"] for x in per["raw"])
        ours = statistics.median(x["steps_per_s"] for x in per["ours"])
        summary.append(
            {
                "case": case.name,
                "description": case.description,
                "task": case.task,
                "obs_mode": case.obs_mode,
                "num_envs": num_envs,
                "vector_steps": steps[case.name],
                "raw_steps_per_s": raw,
                "ours_steps_per_s": ours,
                "ratio": ours / raw,
                "meets_goal": ours / raw >= GOAL,
                # our extra time per vector step, from the medians: N / ours - N / raw
                "overhead_us_per_vector_step": (num_envs / ours - num_envs / raw) * 1e6,
                "raw_repeats": [x["steps_per_s"] for x in per["raw"]],
                "ours_repeats": [x["steps_per_s"] for x in per["ours"]],
            }
        )
    return runs, summary, [{"case": k, "error": v} for k, v in failed.items()]


# ---- report --------------------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info(threads: int) -> dict[str, Any]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": threads,
        "numpy": np.__version__,
        "gymnasium": _version("gymnasium"),
        "mani_skill": _version("mani-skill"),
        "sapien": _version("sapien"),
        "mujoco": _version("mujoco"),
        "libero": _version("libero"),
        "robosuite": _version("robosuite"),
        "vk_icd_filenames": os.environ.get("VK_ICD_FILENAMES"),
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
    }


def table(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| case | N | timed steps | raw steps/s | ours steps/s | ours/raw | >= 0.95 | our overhead us/vector step |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in summary:
        lines.append(
            f"| {row['case']} | {row['num_envs']} | {row['vector_steps']} | {row['raw_steps_per_s']:.1f} "
            f"| {row['ours_steps_per_s']:.1f} | {row['ratio']:.3f} | {'yes' if row['meets_goal'] else 'no'} "
            f"| {row['overhead_us_per_vector_step']:.0f} |"
        )
    return "\n".join(lines)


def to_markdown(
    summary: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    meta: dict[str, Any],
) -> str:
    m = meta["machine"]
    versions = ", ".join(
        f"{k.replace('_', '-')} {m[k]}"
        for k in ("gymnasium", "mani_skill", "sapien", "mujoco", "libero", "robosuite", "numpy")
        if m[k]
    )
    out = [
        "# Env overhead: raw simulators vs our contract env",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; N = {meta['num_envs']} envs, SyncVectorEnv on both sides, SAME_STEP autoreset; "
        f"{meta['warmup']} warmup vector steps, {meta['repeats']} rounds (medians, first side alternating); "
        f"{meta['actions']} actions, seed {meta['seed']}.  ",
        f"Machine: {m['cpu_count']} CPUs ({m['machine']}); Python {m['python']}, torch {m['torch']} "
        f"({m['torch_threads']} thread(s)); {versions}.  ",
        f"Load average (1 min) at start / end: {meta['loadavg_start'][0]:.2f} / {meta['loadavg_end'][0]:.2f}.",
        "",
        "Env steps/s = vector steps x N / wall s (creation and the first reset excluded, autoresets included). "
        "raw = the simulator's own Gymnasium env (ManiSkill: `CPUGymWrapper(gym.make(task, num_envs=1, ...))`; "
        "HalfCheetah: `gym.make`; LIBERO: `OffScreenRenderEnv` in a minimal gym.Env) in "
        "`SyncVectorEnv(copy=True)`; ours = `embodied_rl.envs.make(name, num_envs=N, vectorization='sync', ...)`. "
        f"Goal: ours/raw >= {GOAL}. Our overhead = N / ours - N / raw (from the medians).",
        "",
        table(summary),
    ]
    if skipped or failed:
        out += ["", "## Not measured", ""]
        out += [f"- {x['case']}: skipped: {x['reason']}" for x in skipped]
        out += [f"- {x['case']}: failed: {x['error']}" for x in failed]
    out += [
        "",
        "## Every run",
        "",
        "| round | case | side | steps/s | wall s | us/vector step | episodes ended | create+reset s |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for x in runs:
        out.append(
            f"| {x['repeat'] + 1} | {x['case']} | {x['side']} | {x['steps_per_s']:.1f} | {x['wall_s']:.3f} "
            f"| {x['us_per_vector_step']:.0f} | {x['episodes_ended']} | {x['create_reset_s']:.2f} |"
        )
    return "\n".join(out) + "\n"


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases",
        default="all",
        help=f"comma-separated cases, or 'all' (default): {', '.join(CASES)}",
    )
    parser.add_argument("--num-envs", type=int, default=4, help="envs per vector env, both sides (default 4)")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="timed vector steps per run for every case (default per case: "
        + ", ".join(f"{c.name} {c.steps}" for c in CASES.values())
        + ")",
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed vector steps first (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="action-sequence seed; env i resets with seed+i")
    parser.add_argument(
        "--actions", choices=("random", "zero"), default="random", help="uniform in the bounds, or zeros"
    )
    parser.add_argument("--out", default="docs/results/env_overhead", help="folder for the JSON and markdown")
    args = parser.parse_args(argv)
    names = [c.strip() for c in str(args.cases).split(",") if c.strip()]
    if names == ["all"]:
        names = list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)} or 'all'")
    args.cases = list(dict.fromkeys(names))
    if args.num_envs < 1 or args.warmup < 0 or args.repeats < 1 or args.threads < 1:
        parser.error("need --num-envs >= 1, --warmup >= 0, --repeats >= 1, --threads >= 1")
    if args.steps is not None and args.steps < 1:
        parser.error("need --steps >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cases, skipped = [], []
    for name in args.cases:
        reason = unavailable(CASES[name])
        if reason:
            print(f"skipping {name}: {reason}", flush=True)
            skipped.append({"case": name, "reason": reason})
        else:
            cases.append(CASES[name])
    steps = {c.name: args.steps or c.steps for c in cases}
    meta: dict[str, Any] = {
        "command": "python benchmarks/env_overhead.py "
        + shlex.join(sys.argv[1:] if argv is None else [str(a) for a in argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cases": args.cases,
        "num_envs": args.num_envs,
        "steps": steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "seed": args.seed,
        "actions": args.actions,
        "goal_ratio": GOAL,
        "vectorization": "gymnasium.vector.SyncVectorEnv, SAME_STEP autoreset, both sides",
        "raw_vector_copy": True,  # Gymnasium's default
        "ours_vector_copy": False,  # make_gymnasium_env's choice; TorchVectorEnv copies into tensors
        "machine": machine_info(args.threads),
        "loadavg_start": list(os.getloadavg()),
    }
    runs, summary, failed = run(
        cases, steps, args.num_envs, args.warmup, args.repeats, args.seed, args.actions
    )
    meta["loadavg_end"] = list(os.getloadavg())
    meta["machine"] = machine_info(args.threads)  # MUJOCO_GL / VK_ICD_FILENAMES as the cases set them
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "env_overhead.json").write_text(
        json.dumps(
            {"meta": meta, "summary": summary, "runs": runs, "skipped": skipped, "failed": failed}, indent=2
        )
    )
    (out / "env_overhead.md").write_text(to_markdown(summary, runs, skipped, failed, meta))
    print()
    print(table(summary))
    for x in skipped:
        print(f"skipped {x['case']}: {x['reason']}")
    for x in failed:
        print(f"FAILED {x['case']}: {x['error']}")
    print(f"\nwrote {out / 'env_overhead.json'} and {out / 'env_overhead.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
