"""Statistics for evaluation results: confidence intervals and significance tests.

Pure functions over counts and lists. The exact tests come from :mod:`scipy.stats`;
:func:`wilson_interval` is written out because it is the number every table shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as _scipy_stats

Z_95 = 1.959963984540054
"""The standard normal quantile for a two-sided 95% interval."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    With ``p = successes / n``::

        centre = (p + z^2 / (2n)) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))
        [centre - half, centre + half]

    Unlike the normal ("Wald") interval it stays inside ``[0, 1]`` and is not empty at
    ``p = 0`` or ``p = 1`` (e.g. 0/10 gives ``[0, 0.278]``), which is where robot
    evaluations often are.

    Args:
        successes: Number of successes, ``0 <= successes <= n``.
        n: Number of trials; ``n = 0`` gives ``(0, 1)`` (nothing is known).
        z: Normal quantile (1.96 for 95%).

    Returns:
        ``(low, high)`` as fractions.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    # exact 0 / 1 at the ends (the formula gives them up to rounding)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def fisher_exact_p(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Two-sided Fisher exact test that two success rates are equal (independent samples).

    The 2x2 table ``[[s_a, n_a - s_a], [s_b, n_b - s_b]]`` is compared with all tables of
    the same margins; ``p`` is the total hypergeometric probability of the tables no
    more likely than the observed one. Exact for any ``n`` (no normal approximation).
    """
    for s, n in ((successes_a, n_a), (successes_b, n_b)):
        if n < 0 or not 0 <= s <= n:
            raise ValueError(f"need 0 <= successes <= n, got successes={s}, n={n}")
    if n_a == 0 or n_b == 0:
        return 1.0
    table = [[successes_a, n_a - successes_a], [successes_b, n_b - successes_b]]
    return float(_scipy_stats.fisher_exact(table, alternative="two-sided").pvalue)


def mcnemar_exact_p(outcomes_a: Sequence[bool], outcomes_b: Sequence[bool]) -> float:
    """Two-sided exact McNemar test for paired binary outcomes (same seeds, two policies).

    Only discordant pairs carry information: with ``b`` = pairs where A succeeds and B
    fails and ``c`` the reverse, under equal success rates ``b ~ Binomial(b + c, 1/2)``
    and ``p = min(1, 2 * P(X <= min(b, c)))``. Pairing removes the episode-to-episode
    variance of the initial states, so it finds real differences with fewer episodes
    than :func:`fisher_exact_p` when both runs used the same seeds.
    """
    if len(outcomes_a) != len(outcomes_b):
        raise ValueError(f"paired outcomes need equal lengths, got {len(outcomes_a)} and {len(outcomes_b)}")
    b = sum(1 for x, y in zip(outcomes_a, outcomes_b, strict=True) if x and not y)
    c = sum(1 for x, y in zip(outcomes_a, outcomes_b, strict=True) if y and not x)
    if b + c == 0:
        return 1.0
    return float(_scipy_stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue)


def welch_t_p(values_a: Sequence[float], values_b: Sequence[float]) -> float:
    """Two-sided Welch t-test that two means are equal (unequal variances).

    ``t = (mean_a - mean_b) / sqrt(var_a / n_a + var_b / n_b)`` with the
    Welch-Satterthwaite degrees of freedom. Returns 1 when either side has fewer than
    two values or both have zero variance and equal means, and 0 when the variances are
    zero but the means differ.
    """
    if len(values_a) < 2 or len(values_b) < 2:
        return 1.0
    if len(set(values_a)) == 1 and len(set(values_b)) == 1:  # both constant: no variance to test against
        return 1.0 if math.isclose(values_a[0], values_b[0]) else 0.0
    return float(_scipy_stats.ttest_ind(list(values_a), list(values_b), equal_var=False).pvalue)
