"""Backbones: small MLP/CNN encoders (transformers VLMs come with the policy-module issue)."""

from embodied_rl.policies.backbones.cnn import ImageEncoder
from embodied_rl.policies.backbones.mlp import ACTIVATIONS, build_mlp, orthogonal_init

__all__ = ["ACTIVATIONS", "ImageEncoder", "build_mlp", "orthogonal_init"]
