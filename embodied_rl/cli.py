"""The ``embodied-rl`` command: train, eval, envs, policies, bench."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_CONFIG_ERROR = 2
EXIT_INTERRUPTED = 130


def _config_reference() -> str:
    from embodied_rl.algorithms import ALGORITHMS
    from embodied_rl.config.help import describe, format_rows
    from embodied_rl.config.schema import TrainConfig
    from embodied_rl.policies import POLICIES

    parts = ["config keys (set in the YAML file or as key=value):", format_rows(describe(TrainConfig))]
    for registry, section in ((ALGORITHMS, "algo."), (POLICIES, "policy.")):
        for name in registry.names():
            own = describe(registry.get(name).config_class, section, only_own=True)
            if own:
                parts += [f"\nwith {section}name={name}:", format_rows(own)]
    return "\n".join(parts)


class _LazyEpilogFormatter(argparse.RawDescriptionHelpFormatter):
    """Builds the config reference only when --help is actually printed."""

    def add_text(self, text: str | None) -> None:
        if text == "__CONFIG_REFERENCE__":
            text = _config_reference()
        super().add_text(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embodied-rl",
        description="Train and evaluate embodied and agentic policies with online RL.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a policy from a YAML config",
        description="Train from CONFIG (a YAML file, e.g. configs/experiment/quickstart.yaml) with optional "
        "key=value overrides, or continue a run with --resume DIR.",
        formatter_class=_LazyEpilogFormatter,
        epilog="__CONFIG_REFERENCE__",
    )
    train.add_argument("config", nargs="?", help="YAML config file (omit with --resume)")
    train.add_argument("overrides", nargs="*", help="dotted overrides, e.g. algo.lr=1e-3 env.num_envs=16")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    train.add_argument("--dry-run", action="store_true", help="validate and print the config, then exit")

    sft = sub.add_parser(
        "sft",
        help="supervised warm start (behaviour cloning) from expert demonstrations",
        description="Run only the sft section of CONFIG: collect (or load) demonstrations, train the policy on "
        "them, save it to <run_dir>/sft and evaluate it. Start RL from it with policy.pretrained=<run_dir>/sft, "
        "or set sft.steps in a train config to do both in one run.",
    )
    sft.add_argument("config", help="YAML config file (env, policy and sft sections are used)")
    sft.add_argument("overrides", nargs="*", help="dotted overrides, e.g. sft.steps=2000 sft.episodes=100")
    sft.add_argument(
        "--save-demos", metavar="DIR", help="also write the demonstrations to DIR (reuse: sft.demos=DIR)"
    )

    ev = sub.add_parser(
        "eval",
        help="evaluate a checkpoint, run dir, policy dir or config",
        description="Evaluate a policy on fixed seeds (episode k starts from --seed + k, whatever --num-envs is).",
    )
    ev.add_argument(
        "path",
        help="checkpoint dir (step_N), run dir (its latest checkpoint), saved policy dir, or YAML config",
    )
    ev.add_argument("overrides", nargs="*", help="key=value overrides when PATH is a config")
    ev.add_argument("--env", help="env name (default: the one the policy was trained on)")
    ev.add_argument("--episodes", type=int, default=10, help="number of episodes (default 10)")
    ev.add_argument("--seed", type=int, default=10_000, help="seed of the first episode (default 10000)")
    ev.add_argument(
        "--num-envs", type=int, default=8, help="parallel envs (does not change outcomes; default 8)"
    )
    ev.add_argument("--stochastic", action="store_true", help="sample actions instead of the policy's mode")
    ev.add_argument("--json", metavar="FILE", help="also write per-episode results as JSON")

    envs = sub.add_parser(
        "envs", help="list registered envs with their spec", description="List registered envs."
    )
    envs.add_argument("name", nargs="?", help="show one env's full spec")
    envs.add_argument("--no-spec", action="store_true", help="list names only (does not build the envs)")

    sub.add_parser(
        "policies", help="list registered policies", description="List registered policies and their config."
    )

    bench = sub.add_parser(
        "bench", help="benchmarks (see docs/benchmarks.md)", description="Run a benchmark."
    )
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    sb3 = bench_sub.add_parser(
        "sb3",
        help="our PPO vs Stable-Baselines3 PPO, side by side",
        description="PPO vs SB3 PPO, matched settings.",
    )
    from embodied_rl.bench.sb3_args import add_arguments

    add_arguments(sb3)
    heads = bench_sub.add_parser(
        "heads",
        help="act / update cost of every action head and sampler (tokens, Flow-SDE, Flow-Noise)",
        description="Rollout and update time per action head and sampler, and the first-step importance ratio.",
    )
    from embodied_rl.bench.heads import add_arguments as add_heads_arguments

    add_heads_arguments(heads)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from embodied_rl.config import load_config, to_yaml

    if args.resume:
        if args.config and "=" in args.config:  # `train --resume DIR key=value`
            args.overrides = [args.config, *args.overrides]
            args.config = None
        if args.config:
            print("error: give either CONFIG or --resume DIR, not both", file=sys.stderr)
            return EXIT_CONFIG_ERROR
        config_path = Path(args.resume) / "config.yaml"
        if not config_path.is_file():
            print(
                f"error: --resume {args.resume}: no config.yaml there (is it a run directory?)",
                file=sys.stderr,
            )
            return EXIT_CONFIG_ERROR
    elif not args.config:
        print(
            "error: train needs CONFIG (e.g. configs/experiment/quickstart.yaml) or --resume DIR",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    else:
        config_path = Path(args.config)
    cfg = load_config(config_path, args.overrides)
    if args.dry_run:
        print(to_yaml(cfg), end="")
        return 0
    from embodied_rl.run import run_training

    summary = run_training(cfg, resume_dir=args.resume)
    return 0 if summary.finished else 1


def cmd_sft(args: argparse.Namespace) -> int:
    from embodied_rl.config import load_config
    from embodied_rl.run import build_trainer, sft_only

    cfg = load_config(Path(args.config), args.overrides)
    if cfg.sft.steps <= 0:
        print("error: sft.steps must be > 0 (set it in the config or as sft.steps=N)", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    trainer = build_trainer(cfg)
    try:
        sft_only(trainer, cfg, save_demos_to=args.save_demos)
    finally:
        trainer.close()
    return 0


def _load_policy_for_eval(args: argparse.Namespace):
    from embodied_rl.checkpoint import latest_checkpoint
    from embodied_rl.config import load_config
    from embodied_rl.policies import Policy, build_policy

    path = Path(args.path)
    if path.suffix in (".yaml", ".yml"):
        cfg = load_config(path, args.overrides)
        from embodied_rl.envs import env_spec, make

        env = make(cfg.env.name, num_envs=1, **cfg.env.kwargs)
        policy = (
            Policy.from_pretrained(cfg.policy.pretrained)
            if cfg.policy.pretrained
            else build_policy(cfg.policy, env_spec(env))
        )
        env.close()
        if not cfg.policy.pretrained:
            print(
                "warning: the config names no policy.pretrained directory; evaluating an untrained policy",
                file=sys.stderr,
            )
        return policy, cfg.env.name, cfg.env.kwargs
    if not path.exists():
        raise FileNotFoundError(
            f"'{path}' does not exist (expected a checkpoint, run or policy directory, or a YAML config)"
        )
    if (path / "checkpoints").is_dir() or (path / "latest").exists():
        latest = latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"run directory '{path}' has no checkpoint yet")
        path = latest
    policy = Policy.from_pretrained(path)
    env_kwargs: dict = {}
    if (path / "config.yaml").is_file():
        cfg = load_config(path / "config.yaml")
        env_kwargs = cfg.env.kwargs
    return policy, policy.spec.name, env_kwargs


def cmd_eval(args: argparse.Namespace) -> int:
    from embodied_rl.evaluation import evaluate_policy
    from embodied_rl.logging import print_table

    policy, env_name, env_kwargs = _load_policy_for_eval(args)
    env_name = args.env or env_name
    result = evaluate_policy(
        policy,
        env_name,
        episodes=args.episodes,
        seed=args.seed,
        num_envs=args.num_envs,
        deterministic=not args.stochastic,
        env_kwargs=env_kwargs,
    )
    rows = [
        ("policy", str(args.path)),
        ("env", env_name),
        ("episodes (seeds)", f"{len(result.returns)} ({args.seed}..{args.seed + args.episodes - 1})"),
        ("return", f"{result.mean_return:.2f} +- {result.std_return:.2f}"),
        ("episode length", f"{sum(result.lengths) / len(result.lengths):.1f}"),
    ]
    if result.success_rate is not None:
        rows.append(("success rate", f"{100 * result.success_rate:.1f}%"))
    print_table("embodied-rl eval", rows)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "env": env_name,
                    "seeds": result.seeds,
                    "returns": result.returns,
                    "lengths": result.lengths,
                    "successes": result.successes,
                },
                indent=2,
            )
        )
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from embodied_rl.envs import ENVS, env_spec, make

    names = [args.name] if args.name else ENVS.names()
    if args.name:
        ENVS.entry(args.name)  # unknown name -> error with suggestions
    table = Table(title="registered envs", title_justify="left")
    for col in ("name", "family", "spec" if not args.no_spec else "description"):
        table.add_column(col, overflow="fold")
    for name in names:
        entry = ENVS.entry(name)
        if args.no_spec:
            table.add_row(name, entry.metadata.get("family", ""), entry.metadata.get("description", ""))
            continue
        try:
            env = make(name, num_envs=1)
            spec_text = env_spec(env).summary()
            env.close()
        except Exception as err:  # report, do not stop the listing
            spec_text = f"unavailable: {err}"
        table.add_row(name, entry.metadata.get("family", ""), spec_text)
    Console().print(table)
    return 0


def cmd_policies(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from embodied_rl.config.help import describe
    from embodied_rl.policies import POLICIES

    table = Table(title="registered policies", title_justify="left")
    for col in ("name", "description", "config (policy.*)"):
        table.add_column(col, overflow="fold")
    for entry in POLICIES:
        cls = POLICIES.get(entry.name)
        keys = ", ".join(
            f"{k.split('.', 1)[1]}={d}"
            for k, _, d, _ in describe(cls.config_class, "policy.")
            if k != "policy.name"
        )
        table.add_row(entry.name, entry.metadata.get("description", ""), keys)
    Console().print(table)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.bench == "heads":
        from embodied_rl.bench.heads import run_from_args as run_heads

        return run_heads(args)
    from embodied_rl.bench.sb3 import run_from_args

    return run_from_args(args)


COMMANDS = {
    "train": cmd_train,
    "sft": cmd_sft,
    "eval": cmd_eval,
    "envs": cmd_envs,
    "policies": cmd_policies,
    "bench": cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from embodied_rl.config import ConfigError
    from embodied_rl.registry import RegistryError

    try:
        return COMMANDS[args.command](args)
    except (ConfigError, RegistryError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished updates were checkpointed; continue with `embodied-rl train --resume DIR`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
