"""``embodied-rl bench sb3``: our PPO and Stable-Baselines3's PPO, side by side.

Both frameworks train on the same envs with matched hyperparameters and budgets
(:data:`SETTINGS`), the runs interleaved (per seed the order alternates) so that
machine noise hits both sides alike. Every run happens in a fresh subprocess (only
the training loop is timed), then the final policy is evaluated deterministically on
the same held-out seeds for both frameworks (episode ``k`` starts from
``EVAL_SEED + k``). The result is a markdown table and a JSON file of raw numbers.

See ``docs/benchmarks.md`` for what is matched and why.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

EVAL_SEED = 10_000
"""Seed of the first evaluation episode (both frameworks)."""

FRAMEWORKS = ("embodied-rl", "sb3")


@dataclass(frozen=True)
class Setting:
    """One env's PPO hyperparameters, used verbatim by both frameworks."""

    total_steps: int
    """Training budget in env steps (summed over envs), at --budget-scale 1."""
    n_envs: int
    n_steps: int
    """Steps per env per rollout."""
    batch_size: int
    """Minibatch size (ours: num_minibatches = n_envs * n_steps / batch_size)."""
    n_epochs: int
    lr: float
    lr_schedule: str = "constant"
    """constant, or linear (to 0 at the end of training)."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    log_std_init: float = 0.0
    normalize_advantage: bool = True
    hidden_sizes: tuple[int, ...] = (64, 64)
    source: str = ""
    """Where the setting comes from (for the docs)."""

    @property
    def rollout_size(self) -> int:
        return self.n_envs * self.n_steps

    def budget(self, scale: float) -> int:
        """``total_steps * scale`` rounded to whole rollouts (at least one), so both sides
        run exactly the same number of rollouts and updates."""
        rollouts = max(1, round(self.total_steps * scale / self.rollout_size))
        return rollouts * self.rollout_size


SETTINGS: dict[str, Setting] = {
    "CartPole-v1": Setting(
        total_steps=100_000,
        n_envs=8,
        n_steps=32,
        batch_size=256,
        n_epochs=20,
        lr=1e-3,
        lr_schedule="linear",
        gamma=0.98,
        gae_lambda=0.8,
        source="RL Zoo ppo.yml (clip range constant 0.2 instead of linear: our PPO has no clip schedule)",
    ),
    "Pendulum-v1": Setting(
        total_steps=307_200,
        n_envs=4,
        n_steps=1024,
        batch_size=64,
        n_epochs=10,
        lr=1e-3,
        gamma=0.9,
        gae_lambda=0.95,
        source="RL Zoo ppo.yml without gSDE (neither side uses it), 3x its 100k budget to make up for that",
    ),
    "HalfCheetah-v5": Setting(
        total_steps=307_200,
        n_envs=8,
        n_steps=256,
        batch_size=64,
        n_epochs=10,
        lr=3e-4,
        gamma=0.99,
        gae_lambda=0.95,
        source="SB3 PPO defaults (as in the PPO paper's MuJoCo setting), 8 envs x 256 steps = 2048 per rollout",
    ),
}


# ---- one run (in a subprocess) -------------------------------------------------------------


def _train_ours(env: str, s: Setting, total: int, seed: int, threads: int, episodes: int) -> dict[str, Any]:
    import torch

    from embodied_rl.config import load_config
    from embodied_rl.evaluation import evaluate_policy
    from embodied_rl.run import build_trainer

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bench-sb3-") as tmp:
        overrides = [
            f"env.name={env}",
            f"env.num_envs={s.n_envs}",
            "algo.name=ppo",
            f"algo.num_steps={s.n_steps}",
            f"algo.num_minibatches={s.rollout_size // s.batch_size}",
            f"algo.update_epochs={s.n_epochs}",
            f"algo.lr={s.lr}",
            f"algo.lr_schedule={s.lr_schedule}",
            f"algo.gamma={s.gamma}",
            f"algo.gae_lambda={s.gae_lambda}",
            f"algo.clip_coef={s.clip_range}",
            f"algo.ent_coef={s.ent_coef}",
            f"algo.vf_coef={s.vf_coef}",
            f"algo.max_grad_norm={s.max_grad_norm}",
            f"algo.norm_adv={str(s.normalize_advantage).lower()}",
            "algo.target_kl=null",
            "algo.clip_vloss=false",
            "policy.name=mlp",
            f"policy.hidden_sizes=[{','.join(str(h) for h in s.hidden_sizes)}]",
            "policy.activation=tanh",
            f"policy.init_log_std={s.log_std_init}",
            "policy.ortho_init=true",
            "policy.share_trunk=false",
            f"total_env_steps={total}",
            f"seed={seed}",
            f"torch_threads={threads}",
            "device=cpu",
            f"eval.seed={EVAL_SEED}",
            "eval.deterministic=true",
            "log.progress=false",
            "log.video=false",
            "log.tensorboard=false",
            f"run_dir={tmp}",
        ]
        cfg = load_config(None, overrides)
        trainer = build_trainer(cfg)
        try:
            start = time.perf_counter()
            trainer.train()
            wall = time.perf_counter() - start
            steps = trainer.global_step
            curve = [[int(h["step"]), h.get("rollout/episode_return_mean")] for h in trainer.history]
            # One env at a time, like the SB3 loop: batched matmuls round differently from
            # single-row ones, and MuJoCo amplifies that, so num_envs > 1 changes outcomes.
            result = evaluate_policy(
                trainer.policy, env, episodes, seed=EVAL_SEED, num_envs=1, deterministic=True
            )
        finally:
            trainer.close()
    return {
        "env_steps": int(steps),
        "train_wall_s": wall,
        "eval_returns": [float(r) for r in result.returns],
        "eval_seeds": list(result.seeds),
        "train_curve": curve,
    }


def _evaluate_sb3(model: Any, env_id: str, episodes: int) -> tuple[list[float], list[int]]:
    """Deterministic episodes from seeds EVAL_SEED + k on plain Gymnasium envs."""
    import gymnasium as gym

    env = gym.make(env_id)
    returns, seeds = [], []
    try:
        for k in range(episodes):
            obs, _ = env.reset(seed=EVAL_SEED + k)
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(obs, deterministic=True)  # clipped to the bounds for Box
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            seeds.append(EVAL_SEED + k)
    finally:
        env.close()
    return returns, seeds


def _curve_callback_class() -> type:
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor

    class CurveCallback(BaseCallback):
        """Per rollout: [env steps so far, mean return of the episodes that ended in it] (as ours logs)."""

        def __init__(self) -> None:
            super().__init__()
            self.curve: list[list[Any]] = []
            self._seen: list[int] = []

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            monitors = [e for e in self.training_env.envs if isinstance(e, Monitor)]  # type: ignore[attr-defined]
            self._seen += [0] * (len(monitors) - len(self._seen))
            new: list[float] = []
            for i, m in enumerate(monitors):
                rewards = m.get_episode_rewards()
                new += rewards[self._seen[i] :]
                self._seen[i] = len(rewards)
            self.curve.append([int(self.num_timesteps), float(statistics.fmean(new)) if new else None])

    return CurveCallback


def _train_sb3(env: str, s: Setting, total: int, seed: int, threads: int, episodes: int) -> dict[str, Any]:
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(threads)
    vec = DummyVecEnv([lambda: Monitor(gym.make(env)) for _ in range(s.n_envs)])
    lr: Any = (
        s.lr if s.lr_schedule == "constant" else (lambda progress_remaining, lr=s.lr: progress_remaining * lr)
    )
    _CurveCallback = _curve_callback_class()
    model = PPO(
        "MlpPolicy",
        vec,
        learning_rate=lr,
        n_steps=s.n_steps,
        batch_size=s.batch_size,
        n_epochs=s.n_epochs,
        gamma=s.gamma,
        gae_lambda=s.gae_lambda,
        clip_range=s.clip_range,
        clip_range_vf=None,
        normalize_advantage=s.normalize_advantage,
        ent_coef=s.ent_coef,
        vf_coef=s.vf_coef,
        max_grad_norm=s.max_grad_norm,
        use_sde=False,
        target_kl=None,
        policy_kwargs={
            "net_arch": {"pi": list(s.hidden_sizes), "vf": list(s.hidden_sizes)},
            "activation_fn": torch.nn.Tanh,
            "log_std_init": s.log_std_init,
            "ortho_init": True,
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )
    curve = _CurveCallback()
    try:
        start = time.perf_counter()
        model.learn(total_timesteps=total, callback=curve, progress_bar=False)
        wall = time.perf_counter() - start
        steps = model.num_timesteps
        returns, seeds = _evaluate_sb3(model, env, episodes)
    finally:
        vec.close()
    return {
        "env_steps": int(steps),
        "train_wall_s": wall,
        "eval_returns": returns,
        "eval_seeds": seeds,
        "train_curve": curve.curve,
    }


def run_one(
    framework: str, env: str, setting: dict[str, Any], total: int, seed: int, threads: int, episodes: int
) -> dict[str, Any]:
    """Train and evaluate one (framework, env, seed); the subprocess entry point."""
    s = Setting(**{**setting, "hidden_sizes": tuple(setting["hidden_sizes"])})
    fn = _train_ours if framework == "embodied-rl" else _train_sb3
    return fn(env, s, total, seed, threads, episodes)


def _run_isolated(*args: Any) -> dict[str, Any]:
    """Run :func:`run_one` in a fresh process (no allocator/thread-pool state carried over)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(run_one, args)


# ---- statistics and reports ----------------------------------------------------------------


def _std(values: list[float]) -> float:
    """Sample standard deviation (ddof=1); 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict[str, Any]], envs: list[str]) -> dict[str, Any]:
    """Per env and framework: mean/std of final returns over seeds, mean env-steps/s; verdicts."""
    out: dict[str, Any] = {}
    for env in envs:
        per: dict[str, Any] = {}
        for fw in FRAMEWORKS:
            rs = [r for r in runs if r["env"] == env and r["framework"] == fw]
            if not rs:
                continue
            finals = [statistics.fmean(r["eval_returns"]) for r in rs]
            speeds = [r["env_steps"] / r["train_wall_s"] for r in rs]
            per[fw] = {
                "seeds": [r["seed"] for r in rs],
                "env_steps": rs[0]["env_steps"],
                "final_returns": finals,
                "return_mean": statistics.fmean(finals),
                "return_std": _std(finals),
                "steps_per_s": speeds,
                "steps_per_s_mean": statistics.fmean(speeds),
                "wall_s_mean": statistics.fmean(r["train_wall_s"] for r in rs),
            }
        if len(per) == len(FRAMEWORKS):
            ours, sb3 = per["embodied-rl"], per["sb3"]
            tolerance = max(ours["return_std"], sb3["return_std"])
            per["speed_ratio"] = ours["steps_per_s_mean"] / sb3["steps_per_s_mean"]
            per["return_ok"] = ours["return_mean"] >= sb3["return_mean"] - tolerance
            per["return_tolerance"] = tolerance
            per["speed_ok"] = per["speed_ratio"] >= 2.0
        out[env] = per
    return out


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def render_markdown(meta: dict[str, Any], settings: dict[str, Any], summary: dict[str, Any]) -> str:
    lines = [
        "# PPO: embodied-rl vs Stable-Baselines3",
        "",
        f"Produced by: `{meta['command']}`",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- seeds per env and framework: {meta['seeds']}; torch threads: {meta['threads']}; "
        f"eval: {meta['eval_episodes']} deterministic episodes from seeds {EVAL_SEED}.."
        f"{EVAL_SEED + meta['eval_episodes'] - 1} (same for both)",
        f"- total wall time of the benchmark: {meta['total_wall_s'] / 60:.1f} min",
        "",
        "Final return: mean over seeds of each seed's mean evaluation return, +- the sample std over seeds.",
        "env-steps/s: env steps / training wall time (evaluation excluded), mean over seeds. "
        "Ratio = ours / SB3. Return goal met when ours_mean >= sb3_mean - max(std_ours, std_sb3); "
        "speed goal met when the ratio >= 2.",
        "",
        "| env | steps | framework | final return | env-steps/s | wall time (s) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    verdicts = []
    for env, per in summary.items():
        for fw in FRAMEWORKS:
            if fw not in per:
                continue
            p = per[fw]
            lines.append(
                f"| {env} | {p['env_steps']:,} | {fw} | {_fmt(p['return_mean'])} +- {_fmt(p['return_std'])} "
                f"| {_fmt(p['steps_per_s_mean'], 0)} | {_fmt(p['wall_s_mean'])} |"
            )
        if "speed_ratio" in per:
            lines.append(f"| {env} | | **ratio ours/SB3** | | **{per['speed_ratio']:.2f}x** | |")
            verdicts.append(
                f"| {env} | {'met' if per['return_ok'] else 'NOT met'} "
                f"({_fmt(per['embodied-rl']['return_mean'])} vs {_fmt(per['sb3']['return_mean'])}, "
                f"tolerance {_fmt(per['return_tolerance'])}) "
                f"| {'met' if per['speed_ok'] else 'NOT met'} ({per['speed_ratio']:.2f}x) |"
            )
    if verdicts:
        lines += [
            "",
            "| env | return >= SB3 within seed noise | >= 2x SB3 env-steps/s |",
            "|---|---|---|",
            *verdicts,
        ]
    lines += ["", "Per-seed final returns (seed: return):", ""]
    for env, per in summary.items():
        for fw in FRAMEWORKS:
            if fw in per:
                pairs = ", ".join(
                    f"{s}: {_fmt(r)}" for s, r in zip(per[fw]["seeds"], per[fw]["final_returns"], strict=True)
                )
                lines.append(f"- {env} / {fw}: {pairs}")
    lines += ["", "Settings (identical for both frameworks):", ""]
    for env, s in settings.items():
        items = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("source", "total_steps"))
        lines.append(f"- {env}: {items} ({s['source']})")
    lines += [
        "",
        "See docs/benchmarks.md for how the settings are matched. Raw numbers: the .json next to this file.",
        "",
    ]
    return "\n".join(lines)


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({model}), CPU only, {platform.system()} {platform.release()}"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("embodied-rl", "torch", "stable-baselines3", "gymnasium", "mujoco", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _command(args: argparse.Namespace) -> str:
    prefix = " ".join(
        f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ
    )
    if Path(sys.argv[0]).name == "embodied-rl" and sys.argv[1:3] == ["bench", "sb3"]:
        cmd = shlex.join(["embodied-rl", *sys.argv[1:]])
    else:
        cmd = shlex.join(
            [
                "embodied-rl",
                "bench",
                "sb3",
                "--envs",
                *args.envs,
                "--seeds",
                str(args.seeds),
                "--budget-scale",
                str(args.budget_scale),
                "--threads",
                str(args.threads),
                "--eval-episodes",
                str(args.eval_episodes),
                "--out",
                str(args.out),
            ]
        )
    return f"{prefix} {cmd}".strip()


# ---- the command -----------------------------------------------------------------------------


def run_from_args(args: argparse.Namespace) -> int:
    unknown = [e for e in args.envs if e not in SETTINGS]
    if unknown:
        print(f"error: no benchmark setting for {unknown}; known: {sorted(SETTINGS)}", file=sys.stderr)
        return 2
    if args.seeds < 1 or args.eval_episodes < 1 or args.budget_scale <= 0 or args.threads < 1:
        print(
            "error: --seeds, --eval-episodes, --threads must be >= 1 and --budget-scale > 0", file=sys.stderr
        )
        return 2
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        print("error: stable-baselines3 is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    out_md = Path(args.out)
    out_json = out_md.with_suffix(".json")
    settings = {env: dataclasses.asdict(SETTINGS[env]) for env in args.envs}
    budgets = {env: SETTINGS[env].budget(args.budget_scale) for env in args.envs}
    seeds = list(range(1, args.seeds + 1))
    plan = []
    for env in args.envs:
        for i, seed in enumerate(seeds):
            order = FRAMEWORKS if i % 2 == 0 else FRAMEWORKS[::-1]  # alternate who goes first
            plan += [(fw, env, seed) for fw in order]

    print(
        f"bench sb3: {len(plan)} runs; budgets: " + ", ".join(f"{e} {b:,} steps" for e, b in budgets.items()),
        flush=True,
    )
    runs: list[dict[str, Any]] = []
    bench_start = time.perf_counter()
    for k, (fw, env, seed) in enumerate(plan, 1):
        t0 = time.perf_counter()
        res = _run_isolated(fw, env, settings[env], budgets[env], seed, args.threads, args.eval_episodes)
        res.update(framework=fw, env=env, seed=seed)
        runs.append(res)
        print(
            f"[{k}/{len(plan)}] {env:<15} seed {seed} {fw:<11} return {statistics.fmean(res['eval_returns']):9.1f}  "
            f"{res['env_steps'] / res['train_wall_s']:7,.0f} env-steps/s  train {res['train_wall_s']:6.1f} s  "
            f"(run {time.perf_counter() - t0:.0f} s, total {(time.perf_counter() - bench_start) / 60:.1f} min)",
            flush=True,
        )
    total_wall = time.perf_counter() - bench_start

    summary = summarize(runs, args.envs)
    meta = {
        "command": _command(args),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "versions": _versions(),
        "seeds": args.seeds,
        "threads": args.threads,
        "eval_episodes": args.eval_episodes,
        "eval_seed": EVAL_SEED,
        "budget_scale": args.budget_scale,
        "total_wall_s": total_wall,
    }
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(render_markdown(meta, settings, summary))
    out_json.write_text(
        json.dumps(
            {"meta": meta, "settings": settings, "budgets": budgets, "summary": summary, "runs": runs},
            indent=2,
        )
        + "\n"
    )
    print(out_md.read_text())
    print(f"wrote {out_md} and {out_json} ({total_wall / 60:.1f} min)")
    return 0
