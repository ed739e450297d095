"""Command-line arguments of ``embodied-rl bench sb3`` (kept apart so --help never imports SB3)."""

from __future__ import annotations

import argparse

DEFAULT_ENVS = ("CartPole-v1", "Pendulum-v1", "HalfCheetah-v5")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--envs", nargs="+", default=list(DEFAULT_ENVS), help="envs to benchmark (default: %(default)s)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per env and framework (default 3)")
    parser.add_argument(
        "--budget-scale",
        type=float,
        default=1.0,
        help="multiply every env's step budget (e.g. 0.01 for a smoke run)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for both frameworks (default 1)"
    )
    parser.add_argument(
        "--eval-episodes", type=int, default=10, help="episodes of the final evaluation (default 10)"
    )
    parser.add_argument(
        "--out",
        default="docs/results/sb3_ppo.md",
        help="markdown table to write (a .json with raw numbers is written next to it)",
    )
