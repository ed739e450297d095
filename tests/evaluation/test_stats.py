"""Confidence intervals and significance tests against hand-worked values."""

from __future__ import annotations

import math

import pytest

from embodied_rl.evaluation.stats import fisher_exact_p, mcnemar_exact_p, welch_t_p, wilson_interval


def test_wilson_hand_worked() -> None:
    # 0/10: centre = half = (z^2/20) / (1 + z^2/10) = 0.13877 -> [0, 0.27753]
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    # 5/10: centre 0.5, half = z / (1 + z^2/10) * sqrt(0.025 + z^2/400) = 0.263405
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.236593, abs=1e-6) and high == pytest.approx(0.763407, abs=1e-6)
    assert wilson_interval(10, 10) == (pytest.approx(1 - 0.277533, abs=1e-6), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_contains_rate_and_narrows_with_n() -> None:
    for n in (1, 7, 50, 400):
        for s in range(0, n + 1, max(1, n // 7)):
            low, high = wilson_interval(s, n)
            assert 0.0 <= low <= s / n <= high <= 1.0
    assert (
        wilson_interval(50, 100)[1] - wilson_interval(50, 100)[0]
        < wilson_interval(5, 10)[1] - wilson_interval(5, 10)[0]
    )


@pytest.mark.parametrize(("s", "n"), [(-1, 10), (11, 10), (1, -1)])
def test_wilson_rejects_bad_counts(s: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(s, n)


def test_fisher_lady_tasting_tea() -> None:
    # margins 4/4/4/4: P(a) = 1, 16, 36, 16, 1 (/70); observed a=3 -> (1+16+16+1)/70
    assert fisher_exact_p(3, 4, 1, 4) == pytest.approx(34 / 70)
    assert fisher_exact_p(4, 4, 4, 4) == pytest.approx(1.0)
    assert fisher_exact_p(0, 0, 3, 5) == 1.0


def test_mcnemar_discordant_pairs_only() -> None:
    a = [True] * 8 + [False] * 2 + [True] * 30  # 30 concordant pairs do not matter
    b = [False] * 8 + [True] * 2 + [True] * 30
    # b=8, c=2: 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    assert mcnemar_exact_p(a, b) == pytest.approx(112 / 1024)
    assert mcnemar_exact_p(a, a) == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        mcnemar_exact_p([True], [True, False])


def test_welch_hand_worked() -> None:
    # means 2 and 5, variances 1 and 1, n=3: t = -3/sqrt(2/3) = -3.674, df = 4 -> p = 0.02131
    assert welch_t_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.021311, abs=1e-5)
    assert welch_t_p([1.0], [2.0, 3.0]) == 1.0
    assert welch_t_p([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert welch_t_p([2.0, 2.0], [3.0, 3.0]) == 0.0
    assert not math.isnan(welch_t_p([0, 0, 1], [0, 1, 1]))


def test_training_eval_metrics_carry_the_wilson_bounds() -> None:
    from embodied_rl.evaluation import EvalResult

    result = EvalResult(
        seeds=list(range(10)), returns=[1.0] * 10, lengths=[5] * 10, successes=[True] * 5 + [False] * 5
    )
    metrics = result.metrics()
    assert metrics["eval/success_rate"] == 0.5
    assert (metrics["eval/success_rate_ci_low"], metrics["eval/success_rate_ci_high"]) == wilson_interval(
        5, 10
    )
