"""Load a run config: YAML presets + the experiment file + dotted CLI overrides.

Layers are merged in order into the structured schema (OmegaConf), so an unknown
key or a wrong type fails at the layer that introduced it, naming the key and the
file (or "command line"). An experiment file may start from presets::

    defaults:            # configs/<section>/<preset>.yaml, merged under <section>
      env: cartpole
      algo: ppo
    algo:
      lr: 1.0e-3         # the file's own keys override the presets

Cross-field rules (e.g. GRPO with a value head, num_envs not divisible by the
group size) are checked after merging, by ``check()`` hooks on the config classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from embodied_rl.config.schema import LR_SCHEDULES, AlgoConfig, PolicyConfig, TrainConfig
from embodied_rl.registry import RegistryError

COMMAND_LINE = "command line"
DEFAULTS = "defaults"


class ConfigError(ValueError):
    """A config that cannot run: unknown key, wrong type, impossible combination."""


Layer = tuple[str, DictConfig]


def _config_root(path: Path) -> Path:
    """The ``configs/`` folder a file lives in (presets are looked up there)."""
    for parent in path.resolve().parents:
        if parent.name == "configs":
            return parent
    return path.resolve().parent.parent


def _load_yaml(path: Path, where: str) -> DictConfig:
    if not path.is_file():
        raise ConfigError(f"{where}: config file '{path}' not found")
    try:
        loaded = OmegaConf.load(path)
    except Exception as err:  # yaml.YAMLError and friends; name the file
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got a list")
    return loaded


def read_layers(path: str | Path, preset_overrides: dict[str, str] | None = None) -> list[Layer]:
    """The preset layers named in ``defaults:`` followed by the file itself.

    ``preset_overrides`` (from ``defaults.<section>=<preset>`` on the command line)
    replace or add presets before anything is merged, so switching ``algo: ppo`` to
    ``grpo`` does not drag PPO-only keys along.
    """
    path = Path(path)
    body = _load_yaml(path, "train")
    layers: list[Layer] = []
    presets = body.pop("defaults", None)
    if preset_overrides:
        presets = OmegaConf.merge(presets or OmegaConf.create(), preset_overrides)
    if presets is not None:
        if not isinstance(presets, DictConfig):
            raise ConfigError(f"{path}: 'defaults' must map a section to a preset, e.g. 'env: cartpole'")
        root = _config_root(path)
        section_names = {f.name for f in fields(TrainConfig)}
        for section, preset in presets.items():
            if section not in section_names:
                raise ConfigError(
                    f"{path}: defaults.{section}: no such section (one of {sorted(section_names)})"
                )
            preset_path = Path(str(preset))
            if preset_path.suffix not in (".yaml", ".yml"):
                preset_path = root / str(section) / f"{preset}.yaml"
            elif not preset_path.is_absolute():
                preset_path = path.parent / preset_path
            content = _load_yaml(preset_path, f"{path}: defaults.{section}")
            layers.append((str(preset_path), OmegaConf.create({str(section): content})))
    layers.append((str(path), body))
    return layers


def parse_overrides(overrides: Sequence[str]) -> DictConfig:
    """``["algo.lr=1e-3", "env.num_envs=4"]`` -> a config (values parsed as YAML)."""
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key or key.startswith("-"):
            raise ConfigError(
                f"{COMMAND_LINE}: override {item!r} is not of the form key=value (e.g. algo.lr=1e-3)"
            )
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as err:
        raise ConfigError(f"{COMMAND_LINE}: {err}") from err


def _section_class(registry_kind: str, name: str) -> type:
    from embodied_rl.algorithms import ALGORITHMS
    from embodied_rl.policies import POLICIES

    registry = {"policy": POLICIES, "algo": ALGORITHMS}[registry_kind]
    return registry.get(name).config_class


def _first_line(err: OmegaConfBaseException) -> str:
    msg = getattr(err, "msg", None) or str(err)
    return msg.splitlines()[0]


def build_config(layers: Sequence[Layer]) -> tuple[TrainConfig, list[Layer]]:
    """Merge layers into the schema and run the cross-field checks."""
    raw = OmegaConf.merge(*(layer for _, layer in layers)) if layers else OmegaConf.create()
    schema = OmegaConf.structured(TrainConfig)
    for section, base in (("policy", PolicyConfig), ("algo", AlgoConfig)):
        name = OmegaConf.select(raw, f"{section}.name", default=base.name)
        try:
            cls = _section_class(section, str(name))
        except RegistryError as err:
            raise ConfigError(f"{source_of(layers, f'{section}.name')}: {section}.name: {err}") from None
        schema[section] = OmegaConf.structured(cls)
    for source, layer in layers:
        try:
            schema = OmegaConf.merge(schema, layer)
        except OmegaConfBaseException as err:
            key = getattr(err, "full_key", None) or "?"
            raise ConfigError(f"{source}: {key}: {_first_line(err)}") from None
    try:
        cfg: TrainConfig = OmegaConf.to_object(schema)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError(f"{key}: {_first_line(err)}") from None
    problems = list(check(cfg))
    if problems:
        lines = [f"{source_of(layers, key)}: {key}: {msg}" for key, msg in problems]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return cfg, list(layers)


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Load and validate a run config from a YAML file and ``key=value`` overrides.

    ``defaults.<section>=<preset>`` overrides swap a preset of the file's ``defaults:``
    (e.g. ``defaults.algo=grpo``); all other overrides are merged last.
    """
    presets = {
        o.split("=", 1)[0][len("defaults.") :]: o.split("=", 1)[1]
        for o in overrides
        if o.startswith("defaults.")
    }
    overrides = [o for o in overrides if not o.startswith("defaults.")]
    if presets and path is None:
        raise ConfigError(f"{COMMAND_LINE}: defaults.* overrides need a config file")
    layers: list[Layer] = read_layers(path, presets) if path is not None else []
    if overrides:
        layers.append((COMMAND_LINE, parse_overrides(overrides)))
    cfg, _ = build_config(layers)
    if not cfg.name:
        cfg.name = Path(path).stem if path is not None else "run"
    return cfg


def source_of(layers: Sequence[Layer], key: str) -> str:
    """Which layer set ``key`` last (a file path, "command line" or "defaults")."""
    for source, layer in reversed(layers):
        if OmegaConf.select(layer, key, default=None) is not None:
            return source
    return DEFAULTS


def check(cfg: TrainConfig) -> Iterator[tuple[str, str]]:
    """Cross-field rules: yields ``(dotted key, message)`` for each problem."""
    if cfg.env.num_envs < 1:
        yield "env.num_envs", f"must be >= 1, got {cfg.env.num_envs}"
    if cfg.total_env_steps < 1:
        yield "total_env_steps", f"must be >= 1, got {cfg.total_env_steps}"
    if cfg.torch_threads < 0:
        yield "torch_threads", "must be >= 0 (0 = torch default)"
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            yield "device", f"'{cfg.device}' requested but torch sees no CUDA device (use device=cpu)"
    if cfg.precision not in ("fp32", "bf16"):
        yield "precision", f"must be fp32 or bf16, got {cfg.precision!r}"
    if cfg.sft.lr_schedule not in LR_SCHEDULES:
        yield "sft.lr_schedule", f"must be one of {LR_SCHEDULES}, got {cfg.sft.lr_schedule!r}"
    yield from _check_held_out_seeds(cfg)
    yield from _check_expert_options(cfg)
    from embodied_rl.scheduler.placement import check_scheduler

    yield from check_scheduler(cfg.scheduler, cfg.env.num_envs, cfg.device)
    yield from cfg.algo.check(cfg) if hasattr(cfg.algo, "check") else ()
    yield from cfg.policy.check(cfg) if hasattr(cfg.policy, "check") else ()


def _check_expert_options(cfg: TrainConfig) -> Iterator[tuple[str, str]]:
    """``sft.expert_kwargs`` must be options of every expert the demonstrations come from."""
    if not cfg.sft.expert_kwargs or cfg.sft.steps < 1 or cfg.sft.demos:
        return
    from embodied_rl.envs.experts import EXPERTS, expert_options_error

    for env_name in [cfg.env.name, *(source.get("env") for source in cfg.sft.extra)]:
        if env_name in EXPERTS:
            error = expert_options_error(env_name, dict(cfg.sft.expert_kwargs))
            if error:
                yield "sft.expert_kwargs", error


def _check_held_out_seeds(cfg: TrainConfig) -> Iterator[tuple[str, str]]:
    """Evaluation and demonstration episodes must not start from a seed training resets with."""
    from embodied_rl.seeding import training_seed_overlap

    ranges = [("eval.seed", cfg.eval.seed, cfg.eval.episodes)]
    if cfg.sft.steps > 0 and not cfg.sft.demos:
        ranges.append(("sft.seed", cfg.sft.seed, cfg.sft.episodes))
    for key, first, count in ranges:
        update = training_seed_overlap(cfg.seed, cfg.env.num_envs, cfg.total_env_steps, first, count)
        if update is not None:
            yield (
                key,
                (
                    f"episodes {first}..{first + count - 1} overlap the seeds training resets its envs with "
                    f"(update {update}); pick another {key} so these episodes stay held out"
                ),
            )


def to_yaml(cfg: Any) -> str:
    """Serialise a config dataclass (what runs save as config.yaml)."""
    if not is_dataclass(cfg):
        raise TypeError("to_yaml expects a config dataclass")
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
