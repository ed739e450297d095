"""Which env seeds training uses, so evaluation can be checked to use others.

Training resets its ``num_envs`` envs at clean cuts (the start, and after each
checkpoint) from seeds ``training_env_seed(seed, update) + i``; everything in between
comes from the envs' own generators. Evaluation episodes start from ``eval.seed + k``
and must never be one of those starts (held-out seeds).
"""

from __future__ import annotations

import math

SEED_STRIDE = 1_000_003
UPDATE_STRIDE = 9973


def training_env_seed(seed: int, update: int) -> int:
    """Seed of env 0 at the clean cut after ``update``: ``seed * 1_000_003 + update * 9973``."""
    return seed * SEED_STRIDE + update * UPDATE_STRIDE


def training_seed_overlap(seed: int, num_envs: int, max_updates: int, first: int, count: int) -> int | None:
    """The first update whose reset seeds hit ``[first, first + count)``, or None.

    Update ``u`` resets envs with seeds ``[b_u, b_u + num_envs)``, ``b_u = training_env_seed(seed, u)``;
    the ranges intersect when ``first - num_envs < b_u < first + count``, i.e. for
    ``u`` in ``(first - num_envs - b_0) / 9973 < u < (first + count - b_0) / 9973``.
    """
    if count < 1 or num_envs < 1:
        return None
    base = training_env_seed(seed, 0)
    low = math.floor((first - num_envs - base) / UPDATE_STRIDE) + 1
    high = math.ceil((first + count - base) / UPDATE_STRIDE) - 1
    low, high = max(low, 0), min(high, max_updates)
    return low if low <= high else None
