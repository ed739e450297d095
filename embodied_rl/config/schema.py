"""Typed config schemas. The dataclasses are the schema; field docstrings are the ``--help``.

A run's config is :class:`TrainConfig`. Its ``policy`` and ``algo`` sections are
typed by the registered policy / algorithm (``MLPPolicyConfig``, ``PPOConfig``, ...),
which subclass :class:`PolicyConfig` / :class:`AlgoConfig`; the loader picks the
subclass from ``policy.name`` / ``algo.name`` before validating.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

LR_SCHEDULES = ("constant", "linear")
KL_ESTIMATORS = ("k1", "k2", "k3")


@dataclass
class EnvConfig:
    """Which environment to train on and how many copies run in parallel."""

    name: str = "CartPole-v1"
    """Registered env name (see `embodied-rl envs`) or any Gymnasium id."""
    num_envs: int = 8
    """Number of parallel envs N in one batch."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Family-specific options for `embodied_rl.envs.make` (Gymnasium: vectorization, max_episode_steps, ...)."""


@dataclass
class PolicyConfig:
    """Base of every policy config; each registered policy extends it."""

    name: str = "mlp"
    """Registered policy name (see `embodied-rl policies`)."""
    value_head: bool = True
    """Build a value head (PPO needs one; GRPO must not have one)."""
    pretrained: str = ""
    """Local directory to start from (a save_pretrained dir or a checkpoint step_N dir); never a hub name."""


@dataclass
class AlgoConfig:
    """Base of every on-policy algorithm config; PPOConfig / GRPOConfig extend it."""

    name: str = "ppo"
    """Registered algorithm: ppo or grpo."""
    num_steps: int = 128
    """Env steps per env per rollout (rollout length T)."""
    gamma: float = 0.99
    """Discount factor."""
    lr: float = 3e-4
    """Adam learning rate of the policy."""
    lr_schedule: str = "constant"
    """Learning-rate schedule: constant or linear (to 0 at the end of training)."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    num_minibatches: int = 4
    """Minibatches per epoch (the batch N*T must divide evenly)."""
    clip_coef: float = 0.2
    """PPO ratio clip: ratio is kept within [1 - clip_coef, 1 + clip_coef_high]."""
    clip_coef_high: float | None = None
    """Upper ratio clip for asymmetric clipping ("clip-higher"); defaults to clip_coef."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    kl_coef: float = 0.0
    """Coefficient of a KL penalty to the rollout policy (0 = off)."""
    kl_estimator: str = "k3"
    """KL estimator for the penalty: k1, k2 or k3 (Schulman's approximations)."""
    target_kl: float | None = None
    """Stop the epoch loop early when the approximate KL exceeds this (None = never)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""

    def check(self, cfg: TrainConfig) -> Iterator[tuple[str, str]]:
        """Rules every on-policy algorithm shares; subclasses add their own."""
        if self.num_steps < 1:
            yield "algo.num_steps", f"must be >= 1, got {self.num_steps}"
        if self.update_epochs < 1:
            yield "algo.update_epochs", f"must be >= 1, got {self.update_epochs}"
        if self.num_minibatches < 1:
            yield "algo.num_minibatches", f"must be >= 1, got {self.num_minibatches}"
        if not 0.0 <= self.gamma <= 1.0:
            yield "algo.gamma", f"must be in [0, 1], got {self.gamma}"
        if self.lr <= 0:
            yield "algo.lr", f"must be > 0, got {self.lr}"
        if self.lr_schedule not in LR_SCHEDULES:
            yield "algo.lr_schedule", f"must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
        if self.kl_estimator not in KL_ESTIMATORS:
            yield "algo.kl_estimator", f"must be one of {KL_ESTIMATORS}, got {self.kl_estimator!r}"
        if self.clip_coef <= 0 or (self.clip_coef_high is not None and self.clip_coef_high <= 0):
            yield "algo.clip_coef", "clip coefficients must be > 0"
        if self.max_grad_norm <= 0:
            yield "algo.max_grad_norm", f"must be > 0, got {self.max_grad_norm}"


@dataclass
class LogConfig:
    """What a run writes and shows."""

    tensorboard: bool = True
    """Write TensorBoard event files to <run_dir>/tb."""
    progress: bool = True
    """Show a progress bar with ETA."""
    video: bool = True
    """Record an episode video (mp4) of the final policy at the end of training."""
    video_max_steps: int = 500
    """Longest episode recorded in a video."""


@dataclass
class CheckpointConfig:
    """When checkpoints are written."""

    every_updates: int = 0
    """Write checkpoints/step_N every this many updates (0 = only at the end)."""
    keep_last: int = 2
    """How many step_N checkpoints to keep (older ones are deleted; 0 = keep all)."""


@dataclass
class EvalConfig:
    """Evaluation during and after training."""

    every_updates: int = 0
    """Evaluate every this many updates, logged under eval/ (0 = only at the end)."""
    episodes: int = 10
    """Episodes per evaluation."""
    deterministic: bool = True
    """Use the policy's mode (argmax / mean) instead of sampling."""
    seed: int = 10_000
    """First seed of the held-out evaluation episodes."""


@dataclass
class SFTConfig:
    """Supervised warm start (behaviour cloning) before RL, as the published VLA+RL pipelines do."""

    steps: int = 0
    """Gradient steps of SFT before RL (0 = no SFT)."""
    demos: str = ""
    """Directory of saved demonstrations (`embodied-rl sft --save-demos`, `embodied-rl demos`), or several
    separated by commas (merged); empty = collect from the expert."""
    episodes: int = 50
    """Expert episodes to collect when demos is empty."""
    expert_noise: float = 0.0
    """Std of Gaussian noise the scripted expert adds to its actions (makes weaker demos)."""
    expert_kwargs: dict[str, Any] = field(default_factory=dict)
    """Options of the scripted expert for every source, e.g. ``{clicks: refs}``: the GUI experts
    then click listed elements with ``click_element(ref)`` instead of ``click(x, y)``."""
    batch_size: int = 256
    """Demonstration samples per SFT step."""
    lr: float = 1e-3
    """Adam learning rate of SFT."""
    lr_schedule: str = "constant"
    """Learning-rate schedule over the SFT steps: constant or linear (to 0 at the last step)."""
    seed: int = 20_000
    """First env seed of the demonstration episodes (kept apart from training and eval seeds)."""
    extra: list[dict[str, Any]] = field(default_factory=list)
    """More expert sources appended to the demonstrations, each ``{env, episodes, kwargs}`` (e.g. a
    cheap synthetic env as a curriculum); their observations must have the training env's keys."""


PLACEMENTS = ("collocated", "disaggregated", "hybrid")
BACKENDS = ("local", "ray")
INFERENCE_MODES = ("auto", "trainer", "worker")


@dataclass
class SchedulerConfig:
    """How rollouts are collected: the synchronous reference or the pipelined scheduler."""

    stages: int = 1
    """Pipeline stages S: 1 = the synchronous collector (envs in this process); S >= 2 splits the
    envs into S env-worker processes so one stage simulates while another runs inference."""
    placement: str = "collocated"
    """collocated (all share every core/device in turn), disaggregated (env workers on env_cpus,
    inference + training on policy_cpus), hybrid (env workers on env_cpus, inference on policy_cpus,
    training on all cores)."""
    backend: str = "local"
    """local (processes on this machine, the default) or ray (env workers, inference and the trainer
    as Ray actors)."""
    env_cpus: list[int] = field(default_factory=list)
    """CPU cores for the env workers (disaggregated / hybrid); empty = all."""
    policy_cpus: list[int] = field(default_factory=list)
    """CPU cores for inference (and training when disaggregated); empty = all."""
    worker_threads: int = 1
    """torch threads inside each env worker."""
    worker_timeout_s: float = 120.0
    """An env worker that does not answer a step/reset in this time is killed and restarted."""
    worker_start_timeout_s: float = 600.0
    """Time allowed for an env worker to build its env (simulators load assets)."""
    max_restarts: int = 10
    """Env-worker restarts allowed in a run before it stops with an error."""
    ray_address: str = ""
    """Ray backend: address of an existing cluster (ray.init(address=...)); empty = start a local one."""
    inference: str = "auto"
    """Where rollout inference runs: trainer (in the trainer's process), worker (its own process, or
    Ray actor, with the trainer's weights shipped to it before each rollout), auto (worker with the
    Ray backend, trainer otherwise)."""
    inference_device: str = ""
    """Device of the inference worker (e.g. cuda:1); empty = the run's device."""
    trainer_actor: bool = True
    """Ray backend: run the trainer itself as a Ray actor (the driver only waits and prints)."""


@dataclass
class TrainConfig:
    """A whole training run."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The environment."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """The policy (its fields depend on policy.name)."""
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    """The algorithm (its fields depend on algo.name)."""
    log: LogConfig = field(default_factory=LogConfig)
    """Logging, progress and videos."""
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    """Checkpointing."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation."""
    sft: SFTConfig = field(default_factory=SFTConfig)
    """Optional SFT warm start before RL."""
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    """Rollout scheduling: synchronous or pipelined stages, placement, backend."""
    name: str = ""
    """Experiment name (defaults to the config file's stem)."""
    total_env_steps: int = 100_000
    """Training budget in env steps (summed over all envs)."""
    seed: int = 1
    """Seed of torch, envs and everything random."""
    device: str = "cpu"
    """Torch device of the policy and the rollout buffer."""
    precision: str = "fp32"
    """fp32, or bf16 (torch.autocast around rollout inference and the loss; weights stay fp32)."""
    torch_threads: int = 1
    """torch.set_num_threads (1 is fastest and steadiest for small policies; 0 = torch default)."""
    run_dir: str = ""
    """Output directory (default runs/<name>-<time>)."""
