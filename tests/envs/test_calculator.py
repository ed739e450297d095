"""Tests for the exact, hostile-input-safe calculator tool."""

import time

import pytest
from embodied_rl.envs.tools.calculator import (
    CALCULATOR_SCHEMA,
    CalculatorError,
    CalculatorLimits,
    calculate,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0.1 + 0.2", "3/10"),
        ("2**100", str(2**100)),
        ("7/3", "7/3"),
        ("-7/3", "-7/3"),
        ("(1/3)*3", "1"),
        ("10 // 3", "3"),
        ("-7 % 3", "2"),
        ("7 % -3", "-2"),
        ("-7.5 // 2", "-4"),
        ("factorial(20)", "2432902008176640000"),
        ("gcd(12, 18)", "6"),
        ("lcm(4, 6, 10)", "60"),
        ("sqrt(16)", "4"),
        ("abs(-5/2)", "5/2"),
        ("binomial(10, 3)", "120"),
        ("Rational(2, 6) + frac(1, 6)", "1/2"),
        ("min(3, 1/2, 2)", "1/2"),
        ("max(3, 1/2, 2)", "3"),
        ("floor(pi * 100)", "314"),
        ("ceil(pi)", "4"),
        ("ceiling(-pi)", "-3"),
        ("2**-3", "1/8"),
        ("1e3", "1000"),
        ("9**9999 % 1000", str(pow(9, 9999, 1000))),
    ],
)
def test_exact_results(expression: str, expected: str) -> None:
    assert calculate(expression) == expected


def test_irrational_results_show_exact_form_and_15_digits() -> None:
    assert calculate("sqrt(2)") == "sqrt(2) ≈ 1.41421356237310"
    assert calculate("pi") == "pi ≈ 3.14159265358979"
    assert calculate("sqrt(8)") == "2*sqrt(2) ≈ 2.82842712474619"
    assert calculate("sqrt(2)") == calculate("sqrt(2)")  # deterministic


def test_result_longer_than_python_int_str_limit() -> None:
    result = calculate("9**9999")  # 9542 digits: more than sys.get_int_max_str_digits() (4300)
    assert len(result) == 9542 and result.startswith("29570038") and result.endswith(str(9**9999 % 10**8))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('x')", "unsupported syntax: Attribute"),
        ("().__class__", "unsupported syntax: Attribute"),
        ("open('f')", "unknown function 'open'; allowed: "),
        ("[x for x in ()]", "unsupported syntax: ListComp"),
        ("lambda: 1", "unsupported syntax: Lambda"),
        ("'a' * 3", "unsupported constant: str"),
        ("True + 1", "unsupported constant: bool"),
        ("1j", "unsupported constant: complex"),
        ("(1, 2)", "unsupported syntax: Tuple"),
        ("1 < 2", "unsupported syntax: Compare"),
        ("3 & 1", "unsupported operator: BitAnd"),
        ("~1", "unsupported operator: Invert"),
        ("sqrt(x=4)", "keyword arguments are not supported"),
        ("gcd(*[4, 6])", "gcd() takes at least 2 arguments (1 given)"),
        ("2**10**10", "exponent 10000000000 exceeds the limit of 10000"),
        ("factorial(10**6)", "factorial argument 1000000 exceeds the limit of 1000"),
        ("factorial(-1)", "factorial() expects a nonnegative integer"),
        ("factorial(1/2)", "factorial() expects a nonnegative integer"),
        ("9**9999 * 9**9999", "number has more than 10000 digits"),
        ("99**9999", "power would have about 19954 digits; limit is 10000"),
        ("binomial(10**9, 5*10**8)", "binomial result would have more than 10000 digits"),
        ("sqrt(10**999 + 1)", "non-integer powers of numbers over 300 digits are not supported"),
        ("1/0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("0**-1", "division by zero"),
        ("frac(1, 0)", "division by zero"),
        ("1 +", "invalid expression: invalid syntax at column"),
        ("x + 1", "unknown name 'x'; allowed constants: pi, e"),
        ("min()", "min() takes at least 1 argument (0 given)"),
        ("sqrt(1, 2)", "sqrt() takes exactly 1 argument (2 given)"),
        ("binomial(3)", "binomial() takes exactly 2 arguments (1 given)"),
        ("sqrt(-1)", "result is not a real number"),
        ("1e999", "float literal out of range"),
        ("floor((1 + sqrt(2))**10000)", "too close to an integer"),
        ("a" * 10_000, "expression has 10000 characters; limit is 500"),
        ("(" * 300 + "1" + ")" * 300, "expression has 601 characters; limit is 500"),
        ("-" * 400 + "1", "expression has 802 syntax nodes; limit is 200"),
    ],
)
def test_hostile_or_invalid_inputs_raise_fast(expression: str, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(CalculatorError) as info:
        calculate(expression)
    assert time.perf_counter() - start < 1.0
    assert message in str(info.value)


@pytest.mark.parametrize(
    "expression",
    ["(" * 300 + "1" + ")" * 300, "-" * 200_000 + "1", "+".join(["1"] * 100_000), "2**" * 1000 + "1"],
)
def test_deep_nesting_never_escapes_as_recursion_error(expression: str) -> None:
    with pytest.raises(CalculatorError, match="invalid expression|syntax nodes"):
        calculate(expression, CalculatorLimits(max_chars=10**6))


def test_custom_limits() -> None:
    with pytest.raises(CalculatorError, match="exceeds the limit of 10"):
        calculate("factorial(11)", CalculatorLimits(max_factorial=10))
    with pytest.raises(CalculatorError, match="exponent 11 exceeds the limit of 10"):
        calculate("2**11", CalculatorLimits(max_exponent=10))


def test_error_is_a_value_error_and_schema_shape() -> None:
    assert issubclass(CalculatorError, ValueError)
    assert CALCULATOR_SCHEMA["name"] == "calculator"
    params = CALCULATOR_SCHEMA["parameters"]
    assert params["required"] == ["expression"]
    assert params["properties"]["expression"]["type"] == "string"
