"""``embodied-rl bench heads``: rollout and update cost per action head and sampler.

For each backbone (the MLP encoder, and the tiny / small presets of a transformers VLM)
and each head (action tokens: parallel and sequential decoding; flow matching: ODE,
Flow-SDE with one or all steps stochastic, Flow-Noise), on one fixed batch of
``PointReach-v0`` observations (state, instruction and a camera image):

- **act**: one ``policy.act(obs)`` (sampling with log-probs, no grad);
- **update**: ``policy.evaluate(obs, actions, extras)`` plus ``backward`` of a PPO-style loss;
- **ratio**: ``max |exp(evaluate log-prob - act log-prob) - 1|`` on the same batch, which is
  the first PPO step's importance ratio (should be exactly 0);
- **overhead**: act time of each flow sampler over the plain ODE sampler of the same backbone
  (the likelihood's cost; goal <= 15%).

Cases run interleaved in rounds (each round times every case once) and medians are
reported, with ``torch.set_num_threads(1)`` for steady timings on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HEADS: dict[str, dict[str, Any]] = {
    "tokens-parallel": {"head": "tokens", "tokens": {"decoding": "parallel"}},
    "tokens-sequential": {"head": "tokens", "tokens": {"decoding": "sequential"}},
    "flow-ode": {"head": "flow", "flow": {"sampler": "ode"}},
    "flow-sde-one": {"head": "flow", "flow": {"sampler": "sde", "sde_steps": "one"}},
    "flow-sde-all": {"head": "flow", "flow": {"sampler": "sde", "sde_steps": "all"}},
    "flow-noise": {"head": "flow", "flow": {"sampler": "noise"}},
}
BACKBONES: dict[str, dict[str, Any]] = {
    "mlp": {"family": "mlp"},
    "qwen2_5_vl-tiny": {"family": "qwen2_5_vl", "preset": "tiny"},
    # "small": the tiny preset with every width doubled and twice the layers (~10M params).
    "qwen2_5_vl-small": {
        "family": "qwen2_5_vl",
        "preset": "tiny",
        "overrides": {
            "text": {
                "hidden_size": 256,
                "intermediate_size": 1024,
                "num_hidden_layers": 4,
                "num_attention_heads": 8,
            },
            "vision": {
                "hidden_size": 256,
                "intermediate_size": 512,
                "depth": 4,
                "num_heads": 8,
                "out_hidden_size": 256,
            },
        },
    },
}


@dataclass
class Case:
    backbone: str
    head: str
    params: int = 0
    act_s: list[float] = field(default_factory=list)
    update_s: list[float] = field(default_factory=list)
    ratio_err: float = 0.0

    def row(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "head": self.head,
            "params": self.params,
            "act_ms": 1e3 * statistics.median(self.act_s),
            "update_ms": 1e3 * statistics.median(self.update_s),
            "max_abs_ratio_minus_1": self.ratio_err,
        }


def build(backbone: str, head: str, image_size: int, flow_steps: int) -> tuple[Any, Any]:
    from omegaconf import OmegaConf

    from embodied_rl.envs import env_spec, make
    from embodied_rl.policies import build_policy
    from embodied_rl.policies.vla.config import VLAPolicyConfig

    raw = {"backbone": BACKBONES[backbone], **HEADS[head]}
    raw.setdefault("flow", {})["num_steps"] = flow_steps
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(VLAPolicyConfig), raw))
    env = make("PointReach-v0", num_envs=1, image_size=image_size)
    spec = env_spec(env)
    env.close()
    return build_policy(config, spec), spec


def batch_obs(batch: int, image_size: int) -> Any:
    from embodied_rl.envs import make

    env = make("PointReach-v0", num_envs=batch, image_size=image_size)
    obs, _ = env.reset(seed=0)
    env.close()
    return obs


def time_case(case: Case, policy: Any, obs: Any) -> None:
    import torch

    torch.manual_seed(0)
    start = time.perf_counter()
    out = policy.act(obs)
    case.act_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    log_prob, entropy, value = policy.evaluate(obs, out.actions, out.extras)
    ratio = (log_prob - out.log_prob).exp()
    loss = -(ratio.mean()) - 0.01 * entropy.mean() + (0.0 if value is None else value.square().mean())
    loss.backward()
    case.update_s.append(time.perf_counter() - start)
    policy.zero_grad(set_to_none=True)
    case.ratio_err = max(case.ratio_err, float((ratio.detach() - 1).abs().max()))


def run(
    backbones: list[str], heads: list[str], batch: int, rounds: int, image_size: int, flow_steps: int
) -> list[dict[str, Any]]:
    import torch

    torch.set_num_threads(1)
    obs = batch_obs(batch, image_size)
    cases, policies = [], []
    for backbone in backbones:
        for head in heads:
            policy, _ = build(backbone, head, image_size, flow_steps)
            cases.append(Case(backbone, head, params=sum(p.numel() for p in policy.parameters())))
            policies.append(policy)
    for case, policy in zip(cases, policies, strict=True):  # warm-up
        time_case(case, policy, obs)
        case.act_s.clear()
        case.update_s.clear()
    for _ in range(rounds):
        for case, policy in zip(cases, policies, strict=True):
            time_case(case, policy, obs)
    rows = [c.row() for c in cases]
    for row in rows:
        ode = next((r for r in rows if r["backbone"] == row["backbone"] and r["head"] == "flow-ode"), None)
        if ode and row["head"].startswith("flow"):
            row["act_overhead_vs_ode"] = row["act_ms"] / ode["act_ms"] - 1.0
    return rows


def to_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Action heads: rollout and update cost",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {meta['machine']}; torch threads 1; batch {meta['batch']}; {meta['rounds']} rounds "
        f"(medians); image {meta['image_size']} px; flow steps K = {meta['flow_steps']}; {meta['date']}.",
        "",
        "| backbone | head | params | act (ms) | update (ms) | act overhead vs ODE | max abs(ratio - 1) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        overhead = f"{100 * r['act_overhead_vs_ode']:+.1f}%" if "act_overhead_vs_ode" in r else ""
        lines.append(
            f"| {r['backbone']} | {r['head']} | {r['params'] / 1e6:.2f}M | {r['act_ms']:.2f} | "
            f"{r['update_ms']:.2f} | {overhead} | {r['max_abs_ratio_minus_1']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=list(HEADS))
    parser.add_argument("--batch", type=int, default=8, help="observations per batch")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (medians are reported)")
    parser.add_argument("--image-size", type=int, default=64, help="camera image size")
    parser.add_argument("--flow-steps", type=int, default=5, help="denoising steps K of the flow head")
    parser.add_argument(
        "--out", default="docs/results/heads.md", help="markdown table (a .json is written beside it)"
    )


def run_from_args(args: argparse.Namespace) -> int:
    import sys

    import torch

    from embodied_rl.logging import print_table

    rows = run(args.backbones, args.heads, args.batch, args.rounds, args.image_size, args.flow_steps)
    meta = {
        "command": "embodied-rl bench heads " + " ".join(sys.argv[3:]),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch {torch.__version__}",
        "batch": args.batch,
        "rounds": args.rounds,
        "image_size": args.image_size,
        "flow_steps": args.flow_steps,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(rows, meta))
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print_table(
        "bench heads (medians)",
        [
            (f"{r['backbone']} {r['head']}", f"act {r['act_ms']:.2f} ms, update {r['update_ms']:.2f} ms")
            for r in rows
        ],
    )
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0
