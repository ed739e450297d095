"""Env steps/s of MiniWoB++ in Chromium with 1, 2, 4 browsers: miniwob's own env vs ``MiniWoB-v1``.

Two sides, in one run, with the same task, click sequence, seeds and step counts:

- **raw**: miniwob's own Gymnasium env (``gymnasium.make("miniwob/<task>-v1")``) in
  ``gymnasium.vector.AsyncVectorEnv`` (one worker process, hence one browser, per env), stepping
  ``CLICK_COORDS`` actions;
- **ours**: ``embodied_rl.envs.make("MiniWoB-v1", num_envs=N, tasks=[task], vectorization="async",
  max_steps=...)`` (our browser pool: one worker and one persistent browser per env), stepping the
  same clicks written in the action grammar, ``click(x, y)``.

The clicks are a fixed pseudo-random sequence (``numpy.random.default_rng(--seed)``): integer
pixels uniform over the task's screen (160x210), one per env and step, shared by both sides.
Both vector envs use ``SAME_STEP`` autoreset (ours always does; the raw env is given the same
mode so both do the same work in a step that ends an episode: the last step and the reset),
``copy=False`` and no shared memory (miniwob's observations hold DOM sequences and text), and the
``spawn`` start method. Each side resets with seeds ``seed + i`` (env ``i``).

Timing: per (round, browser count, side) the env is created and reset (browser start, not timed),
stepped ``--warmup`` vector steps (not timed), then ``--steps`` vector steps are timed; resets
inside the loop (autoreset) are included. Env steps/s = vector steps * N / wall seconds. The env
is closed (browsers quit) before the next case, so only one side's browsers are alive at a time.
Cases run in rounds (``--repeats``): each round times every browser count on both sides, the side
that goes first alternating between cases and rounds; medians over rounds are reported, with the
ratio ours/raw of the medians.

Default task ``click-dialog``: a jQuery UI dialog whose small "x" button (about 20x20 px of the
160x210 screen, ~1% of the clicks) is the only thing that ends the episode, so random clicks
mostly step a live page and the measurement is dominated by steps, not resets (random clicks on
``click-test`` or ``click-button`` hit the target far more often). Note that miniwob's own env
keeps the page's 10 s episode limit, while ours sets it to 600 s: the raw side also ends an
episode every 10 s per browser; the JSON counts the episodes that ended on each side.

Run it (needs Chromium and chromedriver; about 10-15 minutes with the defaults on an idle 2-core machine)::

    .venv/bin/python benchmarks/gui_browsers.py                       # 1,2,4 browsers, 200 steps, 3 rounds
    .venv/bin/python benchmarks/gui_browsers.py --browsers 1 --steps 10 --warmup 2 --repeats 1 \\
        --out /tmp/gui_browsers                                       # smoke run, seconds

Writes ``gui_browsers.json`` (meta, medians, every timed run) and ``gui_browsers.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TASK = "click-dialog"
SIDES = ("raw", "ours")


# ---- browser -------------------------------------------------------------------------------------


def find_chromium() -> tuple[str, str]:
    """Paths of Chromium and chromedriver; a clear RuntimeError when either (or miniwob) is missing.

    Also sets ``MINIWOB_CHROME_BINARY`` / ``MINIWOB_CHROMEDRIVER`` (inherited by the workers), which
    miniwob's own env needs to start Debian's Chromium without Selenium Manager going online.
    """
    try:
        import miniwob  # noqa: F401
        import selenium  # noqa: F401
        from embodied_rl.envs.gui.miniwob import find_browser
    except ImportError as err:
        raise RuntimeError(
            f"this benchmark needs miniwob and selenium ({err}); install them with: pip install -e '.[gui]'"
        ) from err
    binary, driver = find_browser()  # RuntimeError naming what is missing and how to install it
    os.environ["MINIWOB_CHROME_BINARY"] = binary
    os.environ["MINIWOB_CHROMEDRIVER"] = driver
    return binary, driver


def _version(executable: str) -> str:
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    return done.stdout.strip() or f"unknown (exit {done.returncode})"


def machine_info(binary: str, driver: str) -> dict[str, Any]:
    import gymnasium
    import miniwob
    import selenium
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "chromium": _version(binary),
        "chromium_path": binary,
        "chromedriver": _version(driver),
        "chromedriver_path": driver,
        "miniwob": miniwob.__version__,
        "gymnasium": gymnasium.__version__,
        "selenium": selenium.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
    }


# ---- actions -------------------------------------------------------------------------------------


def click_sequence(seed: int, steps: int, num_envs: int, width: int, height: int) -> np.ndarray:
    """``int64[steps, num_envs, 2]``: click points ``(x, y)``, uniform integer pixels of the screen."""
    rng = np.random.default_rng(seed)
    xs = rng.integers(0, width, size=(steps, num_envs))
    ys = rng.integers(0, height, size=(steps, num_envs))
    return np.stack([xs, ys], axis=-1)


def raw_click_batch(batch_space: Any, click_type: int, points: np.ndarray) -> dict[str, Any]:
    """One batched action of miniwob's ``Dict`` action space: every env does ``CLICK_COORDS``.

    The vector env splits the batch with ``gymnasium.vector.utils.iterate``, which needs every key
    of the Dict: ``action_type`` (Discrete -> int64[N]) is the index of CLICK_COORDS in the env's
    ``action_space_config.action_types``; ``coords`` (Box(2,) -> float32[N, 2]) the points, in task
    pixels (left, top); the keys a click ignores get valid fillers: zeros for ``ref`` / ``key`` /
    ``field`` (MultiDiscrete[N]) and a one-letter string per env for ``text`` (a custom space
    batches to a Tuple of N strings).
    """
    from gymnasium import spaces

    n = len(points)
    action: dict[str, Any] = {}
    for key, sub in batch_space.spaces.items():
        if key == "action_type":
            action[key] = np.full(n, click_type, dtype=np.int64)
        elif key == "coords":
            action[key] = np.asarray(points, dtype=np.float32).reshape(n, 2)
        elif isinstance(sub, spaces.Tuple):  # Text / Unicode fields: one string per env
            action[key] = tuple("a" * max(1, getattr(s, "min_length", 1)) for s in sub.spaces)
        else:
            action[key] = np.zeros(sub.shape, dtype=sub.dtype)
    return action


def ours_click_batch(points: np.ndarray) -> list[str]:
    """The same clicks as grammar strings, one per env."""
    return [f"click({int(x)}, {int(y)})" for x, y in points]


# ---- envs ----------------------------------------------------------------------------------------


def make_raw(task: str, num_envs: int) -> Any:
    """miniwob's own env, one AsyncVectorEnv worker (and browser) per env, SAME_STEP autoreset."""
    import gymnasium

    # "miniwob:<id>": each worker imports miniwob (which registers its ids) before making the env.
    factory = functools.partial(gymnasium.make, f"miniwob:miniwob/{task}-v1")
    return gymnasium.vector.AsyncVectorEnv(
        [factory] * num_envs,
        shared_memory=False,  # DOM sequences and text cannot live in shared memory
        copy=False,
        context="spawn",
        autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP,
    )


def make_ours(task: str, num_envs: int, max_steps: int) -> Any:
    import embodied_rl.envs as envs

    return envs.make(
        "MiniWoB-v1", num_envs=num_envs, tasks=[task], vectorization="async", max_steps=max_steps
    )


def _raw_click_type(env: Any) -> int:
    from miniwob.action import ActionSpaceConfig, ActionTypes

    try:
        config = env.get_attr("action_space_config")[0]
    except Exception:  # the env's default preset
        config = ActionSpaceConfig.get_preset("all_supported")
    return list(config.action_types).index(ActionTypes.CLICK_COORDS)


def _count(x: Any) -> int:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return int(np.count_nonzero(np.asarray(x)))


def time_side(
    side: str,
    task: str,
    num_envs: int,
    clicks: np.ndarray,
    *,
    warmup: int,
    steps: int,
    seed: int,
    max_steps: int,
) -> dict[str, Any]:
    """Create, reset and warm up one side's vector env, then time ``steps`` vector steps."""
    env = None
    try:
        t0 = time.perf_counter()
        env = make_raw(task, num_envs) if side == "raw" else make_ours(task, num_envs, max_steps)
        env.reset(seed=[seed + i for i in range(num_envs)])
        create_s = time.perf_counter() - t0
        if side == "raw":
            high = env.single_action_space["coords"].high  # the task's screen (width, height)
            if np.any(clicks >= high):
                raise RuntimeError(f"clicks outside miniwob's {high.tolist()} screen for {task}")
            click_type = _raw_click_type(env)
            actions = [raw_click_batch(env.action_space, click_type, clicks[t]) for t in range(len(clicks))]
        else:
            actions = [ours_click_batch(clicks[t]) for t in range(len(clicks))]
        for t in range(warmup):
            env.step(actions[t])
        ended = invalid = 0
        start = time.perf_counter()
        for t in range(warmup, warmup + steps):
            _, _, terminated, truncated, info = env.step(actions[t])
            ended += _count(terminated) + _count(truncated)
            if side == "ours":
                invalid += _count(info.get("invalid_action", 0))
        wall = time.perf_counter() - start
    finally:
        if env is not None:
            env.close()
    return {
        "side": side,
        "browsers": num_envs,
        "steps_per_s": steps * num_envs / wall,
        "wall_s": wall,
        "vector_steps": steps,
        "env_steps": steps * num_envs,
        "episodes_ended": ended,
        "invalid_actions": invalid if side == "ours" else None,
        "create_reset_s": create_s,
    }


# ---- run -----------------------------------------------------------------------------------------


def run(
    browsers: list[int],
    task: str,
    steps: int,
    warmup: int,
    repeats: int,
    seed: int,
    max_steps: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every timed run and the per-browser-count summary (medians, ratio ours/raw)."""
    from embodied_rl.envs.gui.miniwob_tasks import MINIWOB_TASKS, task_size

    if task not in MINIWOB_TASKS:
        raise ValueError(f"unknown MiniWoB task {task!r}")
    width, height = task_size(task)
    runs: list[dict[str, Any]] = []
    case = 0
    for r in range(repeats):
        for n in browsers:
            clicks = click_sequence(seed, warmup + steps, n, width, height)
            order = SIDES if case % 2 == 0 else SIDES[::-1]
            case += 1
            for side in order:
                out = time_side(
                    side, task, n, clicks, warmup=warmup, steps=steps, seed=seed, max_steps=max_steps
                )
                out["repeat"] = r
                runs.append(out)
                extra = f", {out['invalid_actions']} invalid" if side == "ours" else ""
                print(
                    f"[round {r + 1}/{repeats}] {n} browser(s) {side:>4}: {out['steps_per_s']:6.2f} steps/s "
                    f"({out['env_steps']} env steps in {out['wall_s']:.2f} s, "
                    f"{out['episodes_ended']} episodes ended{extra}; create+reset {out['create_reset_s']:.1f} s)",
                    flush=True,
                )
    summary = []
    for n in browsers:
        per = {s: [x["steps_per_s"] for x in runs if x["browsers"] == n and x["side"] == s] for s in SIDES}
        raw, ours = statistics.median(per["raw"]), statistics.median(per["ours"])
        summary.append(
            {
                "browsers": n,
                "raw_steps_per_s": raw,
                "ours_steps_per_s": ours,
                "ratio": ours / raw,
                "raw_repeats": per["raw"],
                "ours_repeats": per["ours"],
            }
        )
    return runs, summary


def table(summary: list[dict[str, Any]]) -> str:
    lines = ["| browsers | raw steps/s | ours steps/s | ours/raw |", "|---:|---:|---:|---:|"]
    for row in summary:
        lines.append(
            f"| {row['browsers']} | {row['raw_steps_per_s']:.2f} | {row['ours_steps_per_s']:.2f} | {row['ratio']:.2f} |"
        )
    return "\n".join(lines)


def to_markdown(summary: list[dict[str, Any]], runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    out = [
        "# MiniWoB++ browsers: miniwob's own env vs MiniWoB-v1",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; task `{meta['task']}`; {meta['steps']} timed vector steps after "
        f"{meta['warmup']} warmup, {meta['repeats']} rounds (medians), click seed {meta['seed']}, "
        f"ours max_steps {meta['max_steps']}.  ",
        f"Machine: {m['cpu_count']} CPUs ({m['machine']}); {m['chromium']}; {m['chromedriver']}; "
        f"miniwob {m['miniwob']}, gymnasium {m['gymnasium']}, selenium {m['selenium']}, torch {m['torch']} "
        "(1 thread).  ",
        f"Load average (1 min) at start / end: {meta['loadavg_start'][0]:.2f} / {meta['loadavg_end'][0]:.2f}.",
        "",
        "Env steps/s = vector steps x browsers / wall s (creation and the first reset excluded, autoresets "
        "included). raw = `gymnasium.make('miniwob/<task>-v1')` in `AsyncVectorEnv`, CLICK_COORDS; "
        "ours = `embodied_rl.envs.make('MiniWoB-v1', vectorization='async')`, `click(x, y)`; the same "
        "clicks on both, SAME_STEP autoreset on both.",
        "",
        table(summary),
        "",
        "## Every run",
        "",
        "| round | browsers | side | steps/s | wall s | episodes ended | invalid | create+reset s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for x in runs:
        invalid = "" if x["invalid_actions"] is None else str(x["invalid_actions"])
        out.append(
            f"| {x['repeat'] + 1} | {x['browsers']} | {x['side']} | {x['steps_per_s']:.2f} | {x['wall_s']:.2f} "
            f"| {x['episodes_ended']} | {invalid} | {x['create_reset_s']:.2f} |"
        )
    return "\n".join(out) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--browsers", default="1,2,4", help="comma-separated browser counts (default 1,2,4)")
    parser.add_argument("--task", default=DEFAULT_TASK, help=f"MiniWoB task (default {DEFAULT_TASK})")
    parser.add_argument("--steps", type=int, default=200, help="timed vector steps per run (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed vector steps first (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="click-sequence seed; env i resets with seed+i")
    parser.add_argument(
        "--max-steps", type=int, default=1000, help="ours: steps per episode (large: no time-limit resets)"
    )
    parser.add_argument("--out", default="docs/results/gui_browsers", help="folder for the JSON and markdown")
    args = parser.parse_args(argv)
    try:
        args.browsers = [int(b) for b in str(args.browsers).split(",") if b.strip()]
    except ValueError:
        parser.error(f"--browsers must be comma-separated integers, got {args.browsers!r}")
    if not args.browsers or min(args.browsers) < 1:
        parser.error("--browsers needs counts >= 1")
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("need --steps >= 1, --warmup >= 0, --repeats >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        binary, driver = find_chromium()
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    meta: dict[str, Any] = {
        "command": "python benchmarks/gui_browsers.py "
        + shlex.join(sys.argv[1:] if argv is None else [str(a) for a in argv]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "task": args.task,
        "browsers": args.browsers,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "seed": args.seed,
        "max_steps": args.max_steps,
        "autoreset_mode": "same_step",
        "machine": machine_info(binary, driver),
        "loadavg_start": list(os.getloadavg()),
    }
    runs, summary = run(
        args.browsers, args.task, args.steps, args.warmup, args.repeats, args.seed, args.max_steps
    )
    meta["loadavg_end"] = list(os.getloadavg())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gui_browsers.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2)
    )
    (out / "gui_browsers.md").write_text(to_markdown(summary, runs, meta))
    print()
    print(table(summary))
    print(f"\nwrote {out / 'gui_browsers.json'} and {out / 'gui_browsers.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
