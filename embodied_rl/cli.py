"""The ``embodied-rl`` command: train, eval, envs, policies, bench."""

from __future__ import annotations

import argparse
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
        help="evaluate a policy on an env or a suite; write tables, videos and an HTML report",
        description="Evaluate a policy on fixed seeds (episode k of every task starts from --seed + k, "
        "whatever --num-envs is) and write results.json/.csv/.md, episode videos, plots and report.html "
        "to --out. Or compare earlier evaluations with --compare DIR DIR ...",
        epilog="examples:\n"
        "  embodied-rl eval runs/point_reach_tokens-XXXX --suite point-reach\n"
        "  embodied-rl eval scripted:expert --env PointReach-v0 --episodes 50\n"
        "  embodied-rl eval --compare runs/eval/sft runs/eval/ppo --labels sft ppo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "path",
        nargs="?",
        help="checkpoint dir (step_N), run dir (its latest checkpoint), saved policy dir, YAML config, "
        "or scripted:expert / scripted:random",
    )
    ev.add_argument("overrides", nargs="*", help="key=value overrides when PATH is a config")
    ev.add_argument("--env", help="env name(s), comma-separated (default: the one the policy was trained on)")
    ev.add_argument("--suite", help="a named suite of tasks (see `embodied-rl suites`)")
    ev.add_argument("--tasks", help="only these tasks of the suite, comma-separated")
    ev.add_argument("--episodes", type=int, help="episodes per task (default: the suite's protocol, else 10)")
    ev.add_argument("--seed", type=int, help="seed of episode 0 (default: the suite's, else 10000)")
    ev.add_argument(
        "--num-envs", type=int, default=8, help="parallel envs (does not change outcomes; default 8)"
    )
    ev.add_argument("--stochastic", action="store_true", help="sample actions instead of the policy's mode")
    ev.add_argument(
        "--videos", type=int, default=2, help="record the first N episodes of each task (default 2; 0 = none)"
    )
    ev.add_argument("--out", metavar="DIR", help="output directory (default runs/eval/<name>-<time>)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.add_argument(
        "--compare",
        nargs="+",
        metavar="DIR",
        help="compare these evaluation outputs (the first is the baseline) instead of evaluating",
    )
    ev.add_argument("--labels", nargs="+", help="names for the --compare runs (default: folder names)")
    ev.add_argument(
        "--alpha", type=float, default=0.05, help="significance level of --compare (default 0.05)"
    )

    sub.add_parser(
        "suites",
        help="list the named evaluation suites",
        description="List the registered evaluation suites with their tasks and protocol.",
    )
    plot = sub.add_parser(
        "plot",
        help="plot learning curves of runs from their TensorBoard logs (PNG or SVG)",
        description="Plot learning curves of one or more training runs.",
    )
    from embodied_rl.evaluation.plots import add_plot_arguments

    add_plot_arguments(plot)

    demos = sub.add_parser(
        "demos",
        help="record scripted-expert demonstrations to a directory (the format SFT reads)",
        description="Run ENV's scripted expert for --episodes whole episodes (seeds SEED + k) and write every "
        "step's observation and action to OUT (demos.safetensors + demos.json; docs/training.md#demonstrations). "
        "Train on them with sft.demos=OUT.",
    )
    demos.add_argument("env", help="registered env name with a scripted expert (e.g. ManiSkill-PushCube-v1)")
    demos.add_argument("--out", required=True, metavar="DIR", help="directory to write")
    demos.add_argument("--episodes", type=int, default=50, help="whole episodes to record (default 50)")
    demos.add_argument("--seed", type=int, default=20_000, help="seed of episode 0 (default 20000)")
    demos.add_argument("--num-envs", type=int, default=8, help="envs run side by side (default 8)")
    demos.add_argument("--noise", type=float, default=0.0, help="expert action noise (default 0)")
    demos.add_argument(
        "--expert",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the scripted expert (repeatable), e.g. clicks=refs for the GUI experts",
    )
    demos.add_argument(
        "kwargs", nargs="*", help="env options as key=value, e.g. obs_mode=state+rgb image_size=64"
    )

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
    # A checkpoint holds its run's config; a run's <run>/sft policy takes it from the run dir.
    config_file = next(
        (p / "config.yaml" for p in (path, path.parent) if (p / "config.yaml").is_file()), None
    )
    if config_file is not None:
        cfg = load_config(config_file)
        if cfg.env.name == policy.spec.name:
            env_kwargs = cfg.env.kwargs
    return policy, policy.spec.name, env_kwargs


def _eval_tasks(args: argparse.Namespace, default_env: str | None, env_kwargs: dict):
    """(tasks, suite) from --suite / --tasks / --env."""
    from embodied_rl.evaluation.suites import SuiteTask, get_suite

    if args.suite:
        if args.env:
            raise ValueError("give either --suite or --env, not both")
        suite = get_suite(args.suite)
        names = [n.strip() for n in args.tasks.split(",")] if args.tasks else None
        chosen = suite.select(names) if names else suite.tasks
        # Tasks on the env the policy was trained on keep the run's env options (prompt format,
        # screen size, ...) under the task's own kwargs.
        return tuple(
            SuiteTask(t.name, t.env, {**env_kwargs, **t.kwargs}) if t.env == default_env else t
            for t in chosen
        ), suite
    if args.tasks:
        raise ValueError("--tasks selects tasks of a --suite")
    names = [n.strip() for n in args.env.split(",")] if args.env else [default_env]
    if not names or names == [None]:
        raise ValueError("scripted policies need --env or --suite")
    return tuple(SuiteTask(n, n, dict(env_kwargs) if n == default_env else {}) for n in names), None


def _find_run_dir(path: Path) -> Path | None:
    """The training run a policy path belongs to (it has metrics), if any."""
    from embodied_rl.logging import METRICS_FILE

    for candidate in (path, *list(path.parents)[:3]):
        if (candidate / METRICS_FILE).is_file():
            return candidate
    return None


def cmd_eval(args: argparse.Namespace) -> int:
    from datetime import datetime

    from embodied_rl.evaluation.runner import run_evaluation, slug
    from embodied_rl.evaluation.scripted import SCRIPTED_KINDS, SCRIPTED_PREFIX, scripted_policy
    from embodied_rl.logging import print_table

    if args.compare:
        return _cmd_compare(args)
    if not args.path:
        print(
            "error: eval needs PATH (a policy, run dir, config or scripted:expert) or --compare",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    run_dir = None
    if args.path.startswith(SCRIPTED_PREFIX):
        kind = args.path[len(SCRIPTED_PREFIX) :]
        if kind not in SCRIPTED_KINDS:
            print(f"error: unknown scripted policy '{kind}'; choose one of {SCRIPTED_KINDS}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
        policy = lambda task, spec: scripted_policy(  # noqa: E731
            kind, task.env, spec.action_space, seed=0, env_kwargs=task.kwargs
        )
        default_env, env_kwargs = None, {}
    else:
        policy, default_env, env_kwargs = _load_policy_for_eval(args)
        run_dir = _find_run_dir(Path(args.path))
    try:
        tasks, suite = _eval_tasks(args, default_env, env_kwargs)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    episodes = args.episodes if args.episodes is not None else (suite.episodes if suite else 10)
    if episodes < 1 or args.num_envs < 1 or args.videos < 0:
        print("error: --episodes and --num-envs must be >= 1 and --videos >= 0", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    seed = args.seed if args.seed is not None else (suite.seed if suite else 10_000)
    target = suite.name if suite else "+".join(t.name for t in tasks)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / "eval" / f"{slug(Path(args.path).name)}-{slug(target)}-{stamp}"
    )
    try:
        report = run_evaluation(
            policy,
            tasks,
            out,
            policy_name=args.path,
            episodes=episodes,
            seed=seed,
            num_envs=args.num_envs,
            deterministic=not args.stochastic,
            videos=args.videos,
            suite=suite.name if suite else None,
            init_states=suite.init_states if suite else False,
            run_dir=run_dir,
            progress=not args.no_progress,
        )
    except ValueError as err:  # e.g. a policy that does not fit a task: said before any episode runs
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    print(report.to_markdown())
    rows = [("results", str(out)), ("report", str(out / "report.html"))]
    if report.partial:
        rows.insert(0, ("PARTIAL", "interrupted: the finished episodes are in the results"))
    print_table("embodied-rl eval", rows)
    return EXIT_INTERRUPTED if report.partial else 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from embodied_rl.evaluation.compare import compare_reports
    from embodied_rl.evaluation.results import EvalReport
    from embodied_rl.evaluation.runner import write_comparison

    if args.path:
        print("error: --compare takes evaluation output dirs only, not PATH", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if len(args.compare) < 2:
        print("error: --compare needs at least two evaluation output dirs", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    reports = [EvalReport.load(Path(p)) for p in args.compare]
    labels = args.labels or [Path(p).name for p in args.compare]
    if len(labels) != len(reports):
        print(f"error: {len(labels)} --labels for {len(reports)} runs", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    comparison = compare_reports(reports, labels, alpha=args.alpha)
    print(comparison.to_markdown())
    if args.out:
        page = write_comparison(comparison, Path(args.out))
        print(f"comparison written to {args.out} ({page.name})")
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from embodied_rl.evaluation.suites import SUITES, get_suite

    table = Table(title="evaluation suites", title_justify="left")
    for col in ("name", "tasks", "protocol", "description"):
        table.add_column(col, overflow="fold")
    for entry in SUITES:
        try:
            suite = get_suite(entry.name)
        except Exception as err:  # a family that is not installed: show why
            table.add_row(entry.name, "", "", f"unavailable: {err}")
            continue
        tasks = ", ".join(t.name for t in suite.tasks)
        table.add_row(
            entry.name,
            f"{len(suite.tasks)}: {tasks}",
            suite.protocol(suite.episodes, suite.seed),
            suite.description,
        )
    Console().print(table)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from embodied_rl.evaluation.plots import run_plot

    return run_plot(args)


def cmd_demos(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from embodied_rl.config.loader import parse_overrides
    from embodied_rl.envs.experts import expert_for
    from embodied_rl.sft import collect_demos, save_demos

    if args.episodes < 1:
        print("error: --episodes must be >= 1", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    env_kwargs = OmegaConf.to_container(parse_overrides(args.kwargs)) if args.kwargs else {}
    expert_kwargs = OmegaConf.to_container(parse_overrides(args.expert)) if args.expert else {}
    try:
        expert_for(args.env, args.noise, env_kwargs, expert_kwargs)  # bad options fail before the env starts
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    demos = collect_demos(
        args.env,
        args.episodes,
        args.seed,
        num_envs=args.num_envs,
        noise=args.noise,
        env_kwargs=env_kwargs,
        expert_kwargs=expert_kwargs,
    )
    out = save_demos(demos, args.out)
    print(
        f"wrote {len(demos)} steps of {len(demos.episode_returns)} episodes to {out} "
        f"(expert success {demos.success_rate:.1%}, mean return {sum(demos.episode_returns) / len(demos.episode_returns):.3f})"
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
        heavy = entry.metadata.get("browser") or entry.metadata.get("simulator")
        if args.no_spec or entry.metadata.get("unavailable") or (heavy and not args.name):
            # Browser and simulator envs start Chromium / a simulator to report a spec: only
            # when asked for by name.
            note = "" if args.no_spec else f"  (spec: embodied-rl envs {name})"
            table.add_row(
                name, entry.metadata.get("family", ""), entry.metadata.get("description", "") + note
            )
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
    "suites": cmd_suites,
    "plot": cmd_plot,
    "demos": cmd_demos,
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
