"""Supervised fine-tuning (behaviour cloning) from demonstrations: the warm start before RL.

Demonstrations are flat ``(obs, action)`` pairs collected from a scripted expert
(:func:`embodied_rl.envs.experts.expert_for`) or loaded from a directory written by
:func:`save_demos`. Each policy defines its own supervised loss through
``Policy.sft_loss(obs, actions)``: token cross-entropy for action-token heads, the
flow-matching loss for flow heads, negative log-likelihood for Gaussian/categorical heads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from embodied_rl.config.schema import LR_SCHEDULES, SFTConfig
from embodied_rl.envs import make
from embodied_rl.envs.core import Obs, index_obs
from embodied_rl.envs.experts import expert_for
from embodied_rl.envs.wrappers.episode_stats import EpisodeStatistics
from embodied_rl.logging import TrainProgress
from embodied_rl.policies.core import Policy

DEMOS_TENSORS = "demos.safetensors"
DEMOS_TEXT = "demos.json"


@dataclass
class Demonstrations:
    """Flat expert samples: ``obs`` (batched contract obs with ``M`` rows) and ``actions``
    (``[M, ...]`` tensor, or ``M`` strings for text envs)."""

    obs: Obs
    actions: torch.Tensor | list[str]
    episode_returns: list[float]
    episode_successes: list[bool]

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.episode_successes)) if self.episode_successes else float("nan")


def _cat(rows: list[Any]) -> Any:
    first = rows[0]
    if isinstance(first, dict):
        return {k: _cat([r[k] for r in rows]) for k in first}
    if isinstance(first, torch.Tensor):
        return torch.cat(rows, 0)
    return [item for r in rows for item in r]


@torch.no_grad()
def collect_demos(
    env_name: str,
    episodes: int,
    seed: int,
    num_envs: int = 8,
    noise: float = 0.0,
    env_kwargs: dict[str, Any] | None = None,
    expert_kwargs: dict[str, Any] | None = None,
) -> Demonstrations:
    """Run the env's scripted expert for ``episodes`` whole episodes (seeds ``seed + k``).

    Every step of every episode is kept (successful or not), in episode order.
    ``expert_kwargs`` are the expert's own options (:func:`~embodied_rl.envs.experts.expert_for`).
    """
    expert = expert_for(env_name, noise, env_kwargs, expert_kwargs)
    rng = np.random.default_rng(seed)
    env = EpisodeStatistics(make(env_name, num_envs=num_envs, **(env_kwargs or {})))
    obs_rows: list[Obs] = []
    act_rows: list[torch.Tensor] = []
    returns: list[float] = []
    successes: list[bool] = []
    try:
        for start in range(0, episodes, num_envs):
            wave = min(num_envs, episodes - start)
            obs, _ = env.reset(seed=[seed + start + i for i in range(num_envs)])
            active = torch.zeros(num_envs, dtype=torch.bool)
            active[:wave] = True
            while active.any():
                actions = expert(obs, rng)
                rows = active.nonzero().flatten()
                obs_rows.append(index_obs(obs, rows))
                act_rows.append(_select_actions(actions, rows))
                obs, _, terminated, truncated, info = env.step(actions)
                done = (terminated | truncated).cpu() & active
                if done.any() and "episode" in info:
                    ep = info["episode"]
                    for j, i in enumerate(ep["env_idx"].tolist()):
                        if done[i]:
                            returns.append(float(ep["return"][j]))
                            successes.append(bool(ep["success"][j]) if "success" in ep else False)
                active &= ~done
    finally:
        env.close()
    return Demonstrations(_cat(obs_rows), _cat(act_rows), returns, successes)


def save_demos(demos: Demonstrations, directory: str | Path) -> Path:
    """Write tensors to ``demos.safetensors`` and text leaves + episode stats to ``demos.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    text: dict[str, Any] = {
        "episode_returns": demos.episode_returns,
        "episode_successes": demos.episode_successes,
    }
    if isinstance(demos.actions, torch.Tensor):
        tensors["actions"] = demos.actions.contiguous()
    else:
        text["actions"] = list(demos.actions)

    def visit(x: Any, key: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                visit(v, f"{key}.{k}")
        elif isinstance(x, torch.Tensor):
            tensors[key] = x.contiguous()
        else:
            text[key] = list(x)

    visit(demos.obs, "obs")
    save_file(tensors, str(directory / DEMOS_TENSORS))
    (directory / DEMOS_TEXT).write_text(json.dumps(text))
    return directory


def load_demos(directory: str | Path) -> Demonstrations:
    """Inverse of :func:`save_demos`."""
    directory = Path(directory)
    if not (directory / DEMOS_TENSORS).is_file():
        raise FileNotFoundError(
            f"'{directory}' holds no {DEMOS_TENSORS} (write one with embodied-rl sft --save-demos)"
        )
    leaves: dict[str, Any] = dict(load_file(str(directory / DEMOS_TENSORS)))
    text = json.loads((directory / DEMOS_TEXT).read_text())
    leaves.update({k: v for k, v in text.items() if k.startswith("obs.")})
    obs: Obs = {}
    for key, value in leaves.items():
        if not key.startswith("obs."):
            continue
        *parents, last = key.split(".")[1:]
        node = obs
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    actions = text["actions"] if "actions" in text else leaves["actions"]
    return Demonstrations(obs, actions, text["episode_returns"], text["episode_successes"])


def run_sft(
    policy: Policy,
    demos: Demonstrations,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    max_grad_norm: float = 1.0,
    lr_schedule: str = "constant",
) -> list[float]:
    """``steps`` Adam steps on ``policy.sft_loss`` over random minibatches; returns the losses.

    ``lr_schedule="linear"`` decays the rate as ``lr * (1 - step / steps)`` (the last step at
    ``lr / steps``); ``"constant"`` keeps ``lr``.
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be constant or linear, got {lr_schedule!r}")
    device = next(policy.parameters()).device
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    decay = (lambda step: 1.0 - step / steps) if lr_schedule == "linear" else (lambda step: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    generator = torch.Generator().manual_seed(seed)
    bar = TrainProgress(steps, "sft", progress)
    losses: list[float] = []
    if isinstance(demos.actions, torch.Tensor):
        policy.fit_to_demos(demos.actions.to(device))
    policy.train()
    try:
        for step in range(steps):
            idx = torch.randint(len(demos), (min(batch_size, len(demos)),), generator=generator)
            obs = _to_device(index_obs(demos.obs, idx), device)
            loss = policy.sft_loss(obs, _to_device(_select_actions(demos.actions, idx), device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"SFT loss is {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update(step + 1, loss=losses[-1])
    finally:
        bar.close()
    return losses


def _select_actions(actions: torch.Tensor | list[str], rows: torch.Tensor) -> torch.Tensor | list[str]:
    """Rows of a batch of actions: tensor rows (as float) or the listed strings."""
    if isinstance(actions, torch.Tensor):
        return actions[rows].float()
    return [actions[i] for i in rows.tolist()]


def _to_device(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, dict):
        return {k: _to_device(v, device) for k, v in obs.items()}
    return obs.to(device) if isinstance(obs, torch.Tensor) else obs


def demos_for(cfg_sft: SFTConfig, env_name: str, env_kwargs: dict[str, Any], num_envs: int) -> Demonstrations:
    """The demonstrations a config asks for: loaded from ``sft.demos`` or collected from the expert.

    ``sft.demos`` names one saved directory or several separated by commas (merged in order).
    """
    if cfg_sft.demos:
        parts = [load_demos(d.strip()) for d in cfg_sft.demos.split(",") if d.strip()]
        if not parts:
            raise ValueError(f"sft.demos={cfg_sft.demos!r} names no directory")
        return merge_demos(parts) if len(parts) > 1 else parts[0]
    sources = [{"env": env_name, "episodes": cfg_sft.episodes, "kwargs": env_kwargs}, *cfg_sft.extra]
    parts = []
    for source in sources:
        unknown = set(source) - {"env", "episodes", "kwargs"}
        if unknown or "env" not in source:
            raise ValueError(f"sft.extra entries are {{env, episodes, kwargs}}, got {source}")
        parts.append(
            collect_demos(
                source["env"],
                int(source.get("episodes", cfg_sft.episodes)),
                cfg_sft.seed,
                num_envs=num_envs,
                noise=cfg_sft.expert_noise,
                env_kwargs=source.get("kwargs") or {},
                expert_kwargs=cfg_sft.expert_kwargs,
            )
        )
    return merge_demos(parts) if len(parts) > 1 else parts[0]


def merge_demos(parts: list[Demonstrations]) -> Demonstrations:
    """The samples and episodes of ``parts`` one after another (same observation keys)."""
    keys = [sorted(p.obs) for p in parts]
    if any(k != keys[0] for k in keys):
        raise ValueError(f"demonstrations to merge have different observation keys: {keys}")
    return Demonstrations(
        _cat([p.obs for p in parts]),
        _cat([p.actions for p in parts]),
        [r for p in parts for r in p.episode_returns],
        [s for p in parts for s in p.episode_successes],
    )
