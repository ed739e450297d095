"""Do the pipeline benchmark's synthetic simulator and CNN inference slow each other down?

A side check for ``benchmarks/pipeline.py``, with no scheduler involved: one process steps
``SyntheticCompute-v0`` (16 envs, 64x64 images, ``--width``/``--work`` as in the benchmark)
in a loop pinned to core 1, another runs the benchmark's synthetic-pair ``cnn`` policy on 16
images in a loop pinned to core 0. Each runs for ``--seconds`` alone, then both together;
``--rounds`` rounds. Reported: median step / call times (ms) over the rounds (each round's
value is the median over its loop), and the slowdown together vs alone. A slowdown near 1.0
means the two cores do not interfere while both compute without pause.

Run (about 1.5 minutes with the defaults; nothing else should run)::

    .venv/bin/python benchmarks/pipeline_contention.py --width 128 --work 6
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from typing import Any

NUM_ENVS = 16


def _loop(fn: Any, seconds: float) -> float:
    """Median seconds of ``fn()`` over a ``seconds``-long loop (after 3 warm-up calls)."""
    for _ in range(3):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _env_kwargs(width: int, work: int) -> dict[str, Any]:
    return {"work": work, "width": width, "image_size": 64, "vectorization": "sync"}


def sim(cpu: int, seconds: float, width: int, work: int, queue: Any) -> None:
    os.sched_setaffinity(0, [cpu])
    import torch
    from embodied_rl.envs import make

    torch.set_num_threads(1)
    env = make("SyntheticCompute-v0", num_envs=NUM_ENVS, **_env_kwargs(width, work))
    env.reset(seed=0)
    actions = torch.zeros(NUM_ENVS, 4)
    queue.put(("sim", _loop(lambda: env.step(actions), seconds)))


def inference(cpu: int, seconds: float, queue: Any) -> None:
    os.sched_setaffinity(0, [cpu])
    import torch
    from embodied_rl.envs import env_spec, make
    from embodied_rl.policies import POLICIES, build_policy

    torch.set_num_threads(1)
    env = make("SyntheticCompute-v0", num_envs=NUM_ENVS, **_env_kwargs(1, 1))
    obs, _ = env.reset(seed=0)
    config = POLICIES.get("cnn").config_class(
        cnn_channels=[64, 128, 128], cnn_feature_dim=256, hidden_sizes=[256], value_head=True
    )
    torch.manual_seed(0)
    policy = build_policy(config, env_spec(env))
    with torch.no_grad():
        queue.put(("inference", _loop(lambda: policy.act(obs), seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=128, help="SyntheticCompute width (1 = matvec)")
    parser.add_argument("--work", type=int, default=6, help="SyntheticCompute rounds per env step")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each timed loop")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if not {0, 1} <= os.sched_getaffinity(0):
        raise SystemExit("pins to cores 0 and 1; this process may not use both")
    ctx = mp.get_context("spawn")
    times: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for mode in ("sim", "inference", "both"):
            queue = ctx.Queue()
            procs = []
            if mode in ("sim", "both"):
                procs.append(ctx.Process(target=sim, args=(1, args.seconds, args.width, args.work, queue)))
            if mode in ("inference", "both"):
                procs.append(ctx.Process(target=inference, args=(0, args.seconds, queue)))
            for p in procs:
                p.start()
            results = dict(queue.get(timeout=300) for _ in procs)
            for p in procs:
                p.join(timeout=60)
            for name, seconds in results.items():
                key = f"{name} {'together' if mode == 'both' else 'alone'}"
                times.setdefault(key, []).append(1000 * seconds)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} ms" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"width {args.width}, work {args.work}, {args.rounds} rounds of {args.seconds:g} s (medians):")
    for name in ("sim", "inference"):
        alone, together = med[f"{name} alone"], med[f"{name} together"]
        print(f"  {name}: alone {alone:.2f} ms, together {together:.2f} ms, slowdown {together / alone:.2f}")


if __name__ == "__main__":
    main()
