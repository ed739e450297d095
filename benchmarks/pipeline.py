"""Synchronous vs pipelined rollout collection, side by side in one run.

For each pair (an env and a policy from the policy module):

- ``sync``: :class:`SyncCollector` on ``make(env, num_envs=N, vectorization="sync")`` in this
  process: obs -> policy -> env, one batch at a time. Its rollouts give T_s (simulation seconds per
  vector step of all N envs) and T_i (inference seconds per vector step), and so the ceiling
  ``(T_s + T_i) / max(T_s, T_i)``.
- ``S=2``, ``S=4``: :class:`PipelinedCollector` with the N envs split into S env-worker processes
  (spawn, shared-memory observations), inference in this process, no pinning (the collocated
  placement: the OS shares both cores among all processes).
- ``S=2 disaggregated``, ``S=4 disaggregated``: the same with the env workers pinned to core 1 and
  this process (inference) to core 0, the placement the ceiling formula describes (``--placements``).

Pairs:

- ``synthetic``: ``SyntheticCompute-v0`` with 64x64 image observations (``work`` rounds of a
  128x128 matvec per env step: real compute, no sleeping; ``--synthetic-width 128`` makes each
  round a 128x128 matmul, arithmetic-bound instead of dispatch-bound) and the ``cnn`` policy
  (``--synthetic-channels``, default 64-128-128; conv compute grows with the batch, as a policy's
  does on a saturated device). ``work`` is calibrated at the start so that T_s ~= T_i
  (``--synthetic-work`` fixes it instead).
- ``mujoco-rgb``: Gymnasium MuJoCo ``HalfCheetah-v5`` rendered to 64x64 RGB (the ``rgb`` obs mode,
  no shadows/reflections) and the ``cnn`` policy with channels 128-256-256 and a 512 feature/hidden
  layer, which on the 2-core development machine makes T_i about 0.7 T_s.

Every process uses one torch thread (``torch.set_num_threads(1)``; workers the same; Mesa's
``LP_NUM_THREADS=1`` so the software rasteriser does not spread over both cores). Timing: per
(round, pair, mode) one warm-up rollout, then ``--rollouts`` rollouts of ``--steps`` vector steps are
timed (wall clock of ``collect_steps``); env steps/s = N * steps * rollouts / seconds. Workers are
started once per (pair, S, placement) before the rounds (start-up is not timed). Rounds (``--rounds``)
interleave the modes; medians over rounds are reported: speedup = pipelined / sync env steps/s,
efficiency = speedup / ceiling (goal: >= 0.9 on the synthetic pair, >= 0.8 on the real pair).
The last column gives each pipelined mode's T_s and T_i (summed over stages) as multiples of the
synchronous ones: above 1 means simulation or inference itself ran slower while overlapped.

Run (about 10 minutes on 2 cores with both placements; nothing else should run)::

    .venv/bin/python benchmarks/pipeline.py --out docs/results/pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LP_NUM_THREADS", "1")  # before any GL library loads (workers inherit it)

import torch  # noqa: E402
from embodied_rl.envs import env_spec, make  # noqa: E402
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics  # noqa: E402
from embodied_rl.policies import POLICIES, Policy, build_policy  # noqa: E402

from embodied_rl.rollout.buffer import RolloutBuffer  # noqa: E402
from embodied_rl.rollout.collector import RolloutStats, SyncCollector  # noqa: E402
from embodied_rl.scheduler.pipeline import PipelinedCollector, split_envs  # noqa: E402
from embodied_rl.scheduler.timing import pipeline_ceiling  # noqa: E402
from embodied_rl.scheduler.worker import EnvWorker, StageEnvFactory  # noqa: E402

PINNED = {"disaggregated": ([1], [0])}
"""Pinned placements: (env-worker cores, this process's cores, i.e. inference) on 2 cores."""


def pair_settings(name: str, args: argparse.Namespace, work: int) -> tuple[str, dict[str, Any], Any]:
    """``(env name, env kwargs, policy config)`` of a pair."""
    if name == "synthetic":
        config = POLICIES.get("cnn").config_class(
            cnn_channels=args.synthetic_channels, cnn_feature_dim=256, hidden_sizes=[256], value_head=True
        )
        kwargs = {"work": work, "width": args.synthetic_width, "image_size": 64, "vectorization": "sync"}
        return "SyntheticCompute-v0", kwargs, config
    if name == "mujoco-rgb":
        config = POLICIES.get("cnn").config_class(
            cnn_channels=[128, 256, 256], cnn_feature_dim=512, hidden_sizes=[512], value_head=True
        )
        kwargs = {"obs_mode": "rgb", "width": 64, "height": 64, "vectorization": "sync"}
        return "HalfCheetah-v5", kwargs, config
    raise SystemExit(f"unknown pair {name!r} (synthetic, mujoco-rgb)")


def build(env_name: str, kwargs: dict[str, Any], config: Any, num_envs: int) -> tuple[Any, Policy]:
    env = EpisodeStatistics(make(env_name, num_envs=num_envs, **kwargs))
    torch.manual_seed(0)
    return env, build_policy(config, env_spec(env))


def timed(collector: Any, num_envs: int, steps: int, rollouts: int) -> dict[str, float]:
    """One warm-up rollout, then ``rollouts`` timed ones; rates and per-vector-step T_s, T_i."""
    buffer = RolloutBuffer(steps, num_envs)
    collector.collect_steps(buffer)
    total = RolloutStats()
    start = time.perf_counter()
    for _ in range(rollouts):
        s = collector.collect_steps(buffer)
        total.env_time += s.env_time
        total.inference_time += s.inference_time
        total.wait_time += s.wait_time
    wall = time.perf_counter() - start
    vector_steps = steps * rollouts
    return {
        "env_steps_per_s": num_envs * vector_steps / wall,
        "t_sim_ms": 1000 * total.env_time / vector_steps,
        "t_inf_ms": 1000 * total.inference_time / vector_steps,
        "wait_frac": total.wait_time / wall,
    }


def calibrate_work(args: argparse.Namespace) -> int:
    """The ``work`` making the synthetic env's T_s about equal to the MLP's T_i (sync, N envs).

    T_s is linear in ``work`` (a fixed per-step cost plus the rounds): fitted from work=0 and
    ``200 // width`` (at least 8; a matmul round costs far more than a matvec one).
    """
    measured = {}
    high = max(8, 200 // args.synthetic_width)
    for work in (0, high):
        env_name, kwargs, config = pair_settings("synthetic", args, work)
        env, policy = build(env_name, kwargs, config, args.num_envs)
        try:
            collector = SyncCollector(env, policy)
            collector.reset(seed=0)
            measured[work] = timed(collector, args.num_envs, args.steps, 2)
        finally:
            env.close()
    fixed, per_work = measured[0]["t_sim_ms"], (measured[high]["t_sim_ms"] - measured[0]["t_sim_ms"]) / high
    t_inf = statistics.mean(m["t_inf_ms"] for m in measured.values())
    return max(1, round((t_inf - fixed) / per_work))


def run_pair(name: str, args: argparse.Namespace) -> dict[str, Any]:
    work = args.synthetic_work or (calibrate_work(args) if name == "synthetic" else 0)
    env_name, kwargs, config = pair_settings(name, args, work)
    env, policy = build(env_name, kwargs, config, args.num_envs)
    sync = SyncCollector(env, policy)
    sync.reset(seed=0)
    everything = sorted(os.sched_getaffinity(0))
    pipes: dict[str, tuple[PipelinedCollector, list[int]]] = {}
    for stages in args.stages:
        for placement in args.placements:
            mode = f"S={stages}" + ("" if placement == "collocated" else f" {placement}")
            env_cpus, main_cpus = (everything, everything) if placement == "collocated" else PINNED[placement]
            workers = [
                EnvWorker(
                    StageEnvFactory(env_name, n, kwargs),
                    timeout_s=300,
                    name=f"{name} {mode} stage {k}",
                    cpus=env_cpus,
                )
                for k, n in enumerate(split_envs(args.num_envs, stages))
            ]
            for w in workers:
                w.start()
            pipes[mode] = (PipelinedCollector(workers, policy), main_cpus)
            pipes[mode][0].reset(seed=0)
    rows: dict[str, list[dict[str, float]]] = {"sync": [], **{mode: [] for mode in pipes}}
    try:
        for r in range(args.rounds):
            order = [("sync", sync, everything)] + [(mode, c, cpus) for mode, (c, cpus) in pipes.items()]
            if r % 2:
                order.reverse()
            for mode, collector, cpus in order:
                os.sched_setaffinity(0, cpus)
                rows[mode].append(timed(collector, args.num_envs, args.steps, args.rollouts))
                print(
                    f"  round {r + 1} {name} {mode}: "
                    + ", ".join(f"{k} {v:.3g}" for k, v in rows[mode][-1].items()),
                    flush=True,
                )
    finally:
        sync.close()
        os.sched_setaffinity(0, everything)
        for p, _ in pipes.values():
            p.close()
    med = {mode: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for mode, runs in rows.items()}
    t_s, t_i = med["sync"]["t_sim_ms"], med["sync"]["t_inf_ms"]
    ceiling = pipeline_ceiling(t_s, t_i)
    summary = {
        mode: {
            **m,
            "speedup": m["env_steps_per_s"] / med["sync"]["env_steps_per_s"],
            "efficiency": m["env_steps_per_s"] / med["sync"]["env_steps_per_s"] / ceiling,
        }
        for mode, m in med.items()
    }
    return {
        "env": env_name,
        "env_kwargs": kwargs,
        "policy": {
            "name": config.name,
            "cnn_channels": config.cnn_channels,
            "hidden_sizes": config.hidden_sizes,
        },
        "policy_params": sum(p.numel() for p in policy.parameters()),
        "synthetic_work": work or None,
        "synthetic_width": args.synthetic_width if name == "synthetic" else None,
        "t_sim_ms": t_s,
        "t_inf_ms": t_i,
        "ceiling": ceiling,
        "modes": summary,
        "rounds": rows,
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        "| pair | T_s (ms) | T_i (ms) | ceiling | mode | env steps/s | speedup | speedup / ceiling "
        "| T_s, T_i vs sync |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name, res in results["pairs"].items():
        for mode, m in res["modes"].items():
            lines.append(
                f"| {name} | {res['t_sim_ms']:.1f} | {res['t_inf_ms']:.1f} | {res['ceiling']:.2f} | {mode} | "
                f"{m['env_steps_per_s']:.0f} | {m['speedup']:.2f} | {m['efficiency']:.2f} | "
                f"{m['t_sim_ms'] / res['t_sim_ms']:.2f}, {m['t_inf_ms'] / res['t_inf_ms']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="synthetic,mujoco-rgb")
    parser.add_argument("--stages", default="2,4", help="pipelined stage counts to compare with sync")
    parser.add_argument(
        "--placements",
        default="collocated,disaggregated",
        help="collocated (no pinning) and/or disaggregated (env workers on core 1, inference on core 0)",
    )
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=16, help="vector steps per rollout")
    parser.add_argument("--rollouts", type=int, default=2, help="timed rollouts per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--synthetic-channels", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128, 128]
    )
    parser.add_argument("--synthetic-work", type=int, default=0, help="0 = calibrate so T_s ~= T_i")
    parser.add_argument(
        "--synthetic-width",
        type=int,
        default=1,
        help="columns of the synthetic env's state: 1 = matvec rounds (dispatch-bound), 128 = matmul",
    )
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    args.stages = [int(s) for s in args.stages.split(",")]
    args.placements = args.placements.split(",")
    if args.synthetic_width < 1:
        raise SystemExit(f"--synthetic-width must be >= 1, got {args.synthetic_width}")
    unknown = sorted(set(args.placements) - {"collocated", *PINNED})
    if unknown:
        raise SystemExit(f"--placements: unknown {unknown} (collocated, {', '.join(PINNED)})")
    if "disaggregated" in args.placements and not {0, 1} <= os.sched_getaffinity(0):
        raise SystemExit("--placements disaggregated pins to cores 0 and 1; this process may not use both")
    torch.set_num_threads(1)
    results: dict[str, Any] = {
        "command": "benchmarks/pipeline.py "
        + " ".join(f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "load_before": os.getloadavg(),
        "pairs": {},
    }
    for name in args.pairs.split(","):
        print(f"pair {name}", flush=True)
        results["pairs"][name] = run_pair(name, args)
    results["load_after"] = os.getloadavg()
    print(table(results))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pipeline.json").write_text(json.dumps(results, indent=2))
        (out / "pipeline.md").write_text(table(results) + "\n")
        print(f"wrote {out / 'pipeline.json'} and {out / 'pipeline.md'}")


if __name__ == "__main__":
    main()
