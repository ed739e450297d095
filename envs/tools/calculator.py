"""An exact-arithmetic calculator tool for language models, safe against hostile input.

The expression comes from a model and is treated as hostile. It is never passed to ``eval``,
``sympy.sympify`` or ``sympy.parse_expr`` (all of which evaluate Python code). Instead it is parsed
with ``ast.parse(..., mode="eval")`` and a whitelist of node types is walked by hand; every other
construct is rejected with a :class:`CalculatorError`. Size limits (:class:`CalculatorLimits`) are
checked *before* expensive operations (powers, factorials, binomials) and after every operation,
so no input within ``max_chars`` can make the calculator run for long or allocate much memory.

Supported syntax:
    * Integer and float literals; floats are converted exactly from their decimal text
      (``0.1`` is ``1/10``).
    * ``+ - * / // % **`` and unary ``+ -``.
    * Constants ``pi`` and ``e``.
    * Functions: ``sqrt(x)``, ``abs(x)``, ``floor(x)``, ``ceiling(x)`` / ``ceil(x)``,
      ``factorial(n)``, ``binomial(n, k)``, ``gcd(a, b, ...)``, ``lcm(a, b, ...)``,
      ``min(x, ...)``, ``max(x, ...)``, ``Rational(p, q)`` / ``frac(p, q)``.

Result format (see :func:`calculate`):
    * Integers as plain digits: ``"1267650600228229401496703205376"``.
    * Other rationals as ``"p/q"`` in lowest terms with the sign on ``p``: ``"-7/3"``.
    * Irrational results as the exact sympy form, then `` ≈ `` and the value to 15 significant
      digits: ``"sqrt(2) ≈ 1.41421356237310"``. If the exact form is too long to print, only
      ``"≈ <value>"`` is returned.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy

__all__ = ["CALCULATOR_SCHEMA", "CalculatorError", "CalculatorLimits", "calculate"]


class CalculatorError(ValueError):
    """The expression is invalid, unsupported, or exceeds a :class:`CalculatorLimits` limit."""


@dataclass(frozen=True)
class CalculatorLimits:
    """Resource limits for :func:`calculate`.

    Attributes:
        max_chars: Maximum length of the expression string.
        max_nodes: Maximum number of AST nodes in the parsed expression.
        max_exponent: Maximum absolute value of an exponent.
        max_digits: Maximum number of decimal digits of any intermediate integer, numerator or
            denominator, and maximum decimal magnitude of any intermediate irrational value.
        max_factorial: Maximum argument of ``factorial``.
    """

    max_chars: int = 500
    max_nodes: int = 200
    max_exponent: int = 10_000
    max_digits: int = 10_000
    max_factorial: int = 1000


CALCULATOR_SCHEMA: dict = {
    "name": "calculator",
    "description": (
        "Evaluate an arithmetic expression with exact arithmetic (integers and fractions, no "
        "rounding). Returns integers as digits, fractions as 'p/q', and irrational results as "
        "the exact form followed by '≈' and a 15-significant-digit value."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": (
                    "Python-style arithmetic, e.g. '2**100 / 6' or 'sqrt(2) * pi'. Operators: "
                    "+ - * / // % **. Constants: pi, e. Functions: sqrt, abs, floor, ceiling "
                    "(ceil), factorial, binomial, gcd, lcm, min, max, Rational(p, q) (frac). "
                    "Decimal literals are exact (0.1 means 1/10)."
                ),
            }
        },
        "required": ["expression"],
    },
}

_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_SHORT = 40
# Roots of larger numbers make sympy search for perfect-power factors, which is slow (cubic).
_MAX_ROOT_DIGITS = 300
# Extra significant digits used to decide floor() of an irrational value, and the margin from
# an integer below which the answer counts as undecidable.
_FLOOR_GUARD_DIGITS = 30


def _short(value: object) -> str:
    """Returns ``str(value)``, shortened for error messages."""
    try:
        text = str(value)
    except ValueError:  # int too large for str()
        return "<huge number>"
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def _int_to_str(n: int) -> str:
    """Converts an int of any size to decimal, bypassing ``sys.get_int_max_str_digits``."""
    if n < 0:
        return "-" + _int_to_str(-n)
    chunk = 10**4000
    parts = []
    while n >= chunk:
        n, low = divmod(n, chunk)
        parts.append(str(low).zfill(4000))
    parts.append(str(n))
    return "".join(reversed(parts))


def _log10(n: int) -> float:
    """Approximate ``log10(|n|)`` for a nonzero int of any size (0 for 0)."""
    return 0.0 if n == 0 else math.log10(abs(n))


def _rational_log10(value: sympy.Expr) -> float:
    """Largest approximate ``log10`` of any numerator or denominator in ``value``."""
    atoms = [value] if value.is_Rational else value.atoms(sympy.Rational)
    return max([max(_log10(int(a.p)), _log10(int(a.q))) for a in atoms], default=0.0)


def _check_value(value: sympy.Expr, limits: CalculatorLimits) -> sympy.Expr:
    """Checks that ``value`` is a finite real number within ``limits.max_digits``.

    Args:
        value: A sympy number or numeric expression.
        limits: The limits to enforce.

    Returns:
        ``value`` unchanged.

    Raises:
        CalculatorError: If the value is not finite, not real, or too large.
    """
    if value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        raise CalculatorError("result is not a finite number")
    bound = 10**limits.max_digits
    atoms = [value] if value.is_Rational else value.atoms(sympy.Rational)
    for atom in atoms:
        if abs(int(atom.p)) >= bound or int(atom.q) >= bound:
            raise CalculatorError(f"number has more than {limits.max_digits} digits")
    if value.is_Rational:
        return value
    approx = value.evalf(15)
    if approx.is_real is False or approx.has(sympy.I):
        raise CalculatorError("result is not a real number")
    if not approx.is_Number:
        raise CalculatorError(f"cannot evaluate {_short(value)} numerically")
    if abs(approx) >= sympy.Float(f"1e{limits.max_digits}"):
        raise CalculatorError(f"number has more than {limits.max_digits} digits")
    return value


def _require_integer(value: sympy.Expr, func: str, nonnegative: bool = False) -> int:
    """Returns ``value`` as an int, or raises if it is not a (nonnegative) integer."""
    if not value.is_Integer or (nonnegative and value < 0):
        kind = "a nonnegative integer" if nonnegative else "an integer"
        raise CalculatorError(f"{func}() expects {kind}, got {_short(value)}")
    return int(value)


def _divide(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    """Exact ``a / b``; raises on division by zero."""
    if b == 0:
        raise CalculatorError("division by zero")
    return a / b


def _power(base: sympy.Expr, exp: sympy.Expr, limits: CalculatorLimits) -> sympy.Expr:
    """``base ** exp`` after checking the exponent and the estimated size of the result."""
    approx_exp = abs(exp) if exp.is_Rational else abs(exp.evalf(15))
    if not approx_exp.is_Number or approx_exp > limits.max_exponent:
        raise CalculatorError(
            f"exponent {_short(exp)} exceeds the limit of {limits.max_exponent} in absolute value"
        )
    if base == 0 and exp.is_negative:
        raise CalculatorError("division by zero")
    estimate = float(approx_exp) * _rational_log10(base)
    if estimate > limits.max_digits:
        raise CalculatorError(f"power would have about {int(estimate)} digits; limit is {limits.max_digits}")
    if not exp.is_Integer and _rational_log10(base) > _MAX_ROOT_DIGITS:
        raise CalculatorError(
            f"non-integer powers of numbers over {_MAX_ROOT_DIGITS} digits are not supported"
        )
    return base**exp


def _floor(value: sympy.Expr, limits: CalculatorLimits) -> sympy.Expr:
    """Exact ``floor(value)``; irrational values are evaluated numerically with guard digits.

    Raises:
        CalculatorError: If an irrational value is too close to an integer to decide.
    """
    if value.is_Rational:
        return sympy.floor(value)
    _check_value(value, limits)
    magnitude = max(0, int(_log10(int(abs(value.evalf(15))))))
    approx = value.evalf(magnitude + 2 * _FLOOR_GUARD_DIGITS)
    if not approx.is_Float:
        raise CalculatorError(f"cannot evaluate {_short(value)} numerically")
    result = sympy.floor(approx)
    fraction = approx - result
    margin = sympy.Float(f"1e-{_FLOOR_GUARD_DIGITS}")
    if fraction < margin or fraction > 1 - margin:
        raise CalculatorError(f"cannot decide floor/ceiling of {_short(value)}: too close to an integer")
    return sympy.Integer(result)


def _ceiling(value: sympy.Expr, limits: CalculatorLimits) -> sympy.Expr:
    """Exact ``ceiling(value)``, as ``-floor(-value)``."""
    return -_floor(-value, limits)


def _factorial(args: Sequence[sympy.Expr], limits: CalculatorLimits) -> sympy.Expr:
    """``n!`` for ``0 <= n <= limits.max_factorial``."""
    n = _require_integer(args[0], "factorial", nonnegative=True)
    if n > limits.max_factorial:
        raise CalculatorError(f"factorial argument {_short(n)} exceeds the limit of {limits.max_factorial}")
    return sympy.Integer(math.factorial(n))


def _binomial(args: Sequence[sympy.Expr], limits: CalculatorLimits) -> sympy.Expr:
    """``n choose k`` for nonnegative integers, after estimating the result's size."""
    n = _require_integer(args[0], "binomial", nonnegative=True)
    k = _require_integer(args[1], "binomial", nonnegative=True)
    if k > n:
        return sympy.Integer(0)
    if min(k, n - k) * _log10(n) > limits.max_digits:
        raise CalculatorError(f"binomial result would have more than {limits.max_digits} digits")
    return sympy.Integer(math.comb(n, k))


def _fold(
    name: str, op: Callable[[int, int], int]
) -> Callable[[Sequence[sympy.Expr], CalculatorLimits], sympy.Expr]:
    """Builds a gcd/lcm handler that folds ``op`` over integer arguments, checking each step."""

    def handler(args: Sequence[sympy.Expr], limits: CalculatorLimits) -> sympy.Expr:
        result = _require_integer(args[0], name)
        for arg in args[1:]:
            result = int(_check_value(sympy.Integer(op(result, _require_integer(arg, name))), limits))
        return sympy.Integer(result)

    return handler


def _real_args(func: str, args: Sequence[sympy.Expr]) -> Sequence[sympy.Expr]:
    """Returns ``args`` after checking that all are real (for min/max comparisons)."""
    for arg in args:
        if arg.is_real is not True:
            raise CalculatorError(f"{func}() expects real numbers, got {_short(arg)}")
    return args


_Handler = Callable[[Sequence[sympy.Expr], CalculatorLimits], sympy.Expr]
# name -> (min args, max args or None for unbounded, handler)
_FUNCTIONS: dict[str, tuple[int, int | None, _Handler]] = {
    "sqrt": (1, 1, lambda a, lim: _power(a[0], sympy.Rational(1, 2), lim)),
    "abs": (1, 1, lambda a, lim: sympy.Abs(a[0])),
    "floor": (1, 1, lambda a, lim: _floor(a[0], lim)),
    "ceiling": (1, 1, lambda a, lim: _ceiling(a[0], lim)),
    "ceil": (1, 1, lambda a, lim: _ceiling(a[0], lim)),
    "factorial": (1, 1, _factorial),
    "binomial": (2, 2, _binomial),
    "gcd": (2, None, _fold("gcd", math.gcd)),
    "lcm": (2, None, _fold("lcm", math.lcm)),
    "min": (1, None, lambda a, lim: sympy.Min(*_real_args("min", a))),
    "max": (1, None, lambda a, lim: sympy.Max(*_real_args("max", a))),
    "Rational": (2, 2, lambda a, lim: _divide(a[0], a[1])),
    "frac": (2, 2, lambda a, lim: _divide(a[0], a[1])),
}


def _check_arity(name: str, count: int) -> None:
    """Raises if ``name`` cannot be called with ``count`` positional arguments."""
    low, high, _ = _FUNCTIONS[name]
    if low <= count and (high is None or count <= high):
        return
    if high == low:
        expected = f"exactly {low}"
    elif high is None:
        expected = f"at least {low}"
    else:
        expected = f"{low} to {high}"
    noun = "argument" if expected.endswith(" 1") else "arguments"
    raise CalculatorError(f"{name}() takes {expected} {noun} ({count} given)")


class _Evaluator:
    """Evaluates a whitelisted expression AST with sympy exact arithmetic."""

    def __init__(self, limits: CalculatorLimits) -> None:
        self.limits = limits

    def eval(self, node: ast.AST) -> sympy.Expr:
        """Evaluates ``node``, checking the result against the limits."""
        method = getattr(self, f"_eval_{type(node).__name__}", None)
        if method is None:
            raise CalculatorError(f"unsupported syntax: {type(node).__name__}")
        return _check_value(method(node), self.limits)

    def _eval_Expression(self, node: ast.Expression) -> sympy.Expr:
        return self.eval(node.body)

    def _eval_Constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"unsupported constant: {type(value).__name__} {_short(repr(value))}")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise CalculatorError(f"float literal out of range: {_short(value)}")
            return sympy.Rational(repr(value))
        return sympy.Integer(value)

    def _eval_Name(self, node: ast.Name) -> sympy.Expr:
        if node.id not in _CONSTANTS:
            raise CalculatorError(
                f"unknown name '{_short(node.id)}'; allowed constants: {', '.join(_CONSTANTS)}"
            )
        return _CONSTANTS[node.id]

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, ast.UAdd):
            return self.eval(node.operand)
        if isinstance(node.op, ast.USub):
            return -self.eval(node.operand)
        raise CalculatorError(f"unsupported operator: {type(node.op).__name__}")

    def _eval_BinOp(self, node: ast.BinOp) -> sympy.Expr:
        if not isinstance(node.op, _BINOPS):
            raise CalculatorError(f"unsupported operator: {type(node.op).__name__}")
        left, right = self.eval(node.left), self.eval(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            return _divide(left, right)
        if isinstance(op, ast.FloorDiv):
            return _floor(_divide(left, right), self.limits)
        if isinstance(op, ast.Mod):  # Python semantics: the result has the divisor's sign
            return left - right * _floor(_divide(left, right), self.limits)
        return _power(left, right, self.limits)

    def _eval_Call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise CalculatorError(f"unsupported syntax: {type(node.func).__name__}")
        name = node.func.id
        if name not in _FUNCTIONS:
            raise CalculatorError(
                f"unknown function '{_short(name)}'; allowed: {', '.join(sorted(_FUNCTIONS))}"
            )
        if node.keywords:
            raise CalculatorError(f"keyword arguments are not supported: {name}()")
        _check_arity(name, len(node.args))
        args = [self.eval(arg) for arg in node.args]
        return _FUNCTIONS[name][2](args, self.limits)


def _parse(expression: str, limits: CalculatorLimits) -> ast.Expression:
    """Parses ``expression`` after checking its length and node count."""
    if not isinstance(expression, str):
        raise CalculatorError(f"expression must be a string, got {type(expression).__name__}")
    if len(expression) > limits.max_chars:
        raise CalculatorError(f"expression has {len(expression)} characters; limit is {limits.max_chars}")
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for "1a": an error here anyway
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise CalculatorError(f"invalid expression: {err.msg} at column {err.offset}") from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise CalculatorError(f"invalid expression: {type(err).__name__}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > limits.max_nodes:
        raise CalculatorError(f"expression has {nodes} syntax nodes; limit is {limits.max_nodes}")
    return tree


def _format(value: sympy.Expr) -> str:
    """Formats an exact result; see the module docstring."""
    if value.is_Integer:
        return _int_to_str(int(value))
    if value.is_Rational:
        return f"{_int_to_str(int(value.p))}/{_int_to_str(int(value.q))}"
    approx = sympy.sstr(value.evalf(15))
    try:
        exact = sympy.sstr(value)
    except ValueError:  # contains an int too large for str()
        return f"≈ {approx}"
    return f"{exact} ≈ {approx}"


def calculate(expression: str, limits: CalculatorLimits = CalculatorLimits()) -> str:
    """Evaluates an arithmetic expression exactly and safely.

    Args:
        expression: Python-style arithmetic from an untrusted source, e.g. ``"2**100 / 6"``.
            See the module docstring for the supported syntax.
        limits: Resource limits, checked before expensive operations.

    Returns:
        The result as text: an integer as plain digits (``"6"``); any other rational as
        ``"p/q"`` in lowest terms (``"3/10"``, ``"-7/3"``); an irrational value as its exact
        sympy form, ``" ≈ "`` and 15 significant digits (``"sqrt(2) ≈ 1.41421356237310"``,
        ``"pi ≈ 3.14159265358979"``), or only ``"≈ <value>"`` if the exact form is too long to
        print. The output is deterministic.

    Raises:
        CalculatorError: On a syntax error, an unsupported construct, unknown name or function,
            wrong arity, division by zero, a non-real result, or an exceeded limit.
    """
    tree = _parse(expression, limits)
    try:
        return _format(_Evaluator(limits).eval(tree))
    except CalculatorError:
        raise
    except RecursionError:
        raise CalculatorError("expression is nested too deeply") from None
    except Exception as err:  # sympy failures (e.g. PrecisionExhausted) must not escape as-is
        raise CalculatorError(f"cannot evaluate expression: {type(err).__name__}") from None
