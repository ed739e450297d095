"""Typed configs: schemas (dataclasses) and the YAML/CLI loader."""

from embodied_rl.config.loader import (
    ConfigError,
    load_config,
    parse_overrides,
    read_layers,
    to_yaml,
)
from embodied_rl.config.schema import (
    AlgoConfig,
    CheckpointConfig,
    EnvConfig,
    EvalConfig,
    LogConfig,
    PolicyConfig,
    SFTConfig,
    TrainConfig,
)

__all__ = [
    "AlgoConfig",
    "CheckpointConfig",
    "ConfigError",
    "EnvConfig",
    "EvalConfig",
    "SFTConfig",
    "LogConfig",
    "PolicyConfig",
    "TrainConfig",
    "load_config",
    "parse_overrides",
    "read_layers",
    "to_yaml",
]
