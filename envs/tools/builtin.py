"""The calculator and Python tools: thin :class:`Tool` wrappers over ``calculator`` and ``sandbox``."""

from __future__ import annotations

from typing import Any

from embodied_rl.envs.tools.base import Tool, ToolContext, ToolError, ToolResult
from embodied_rl.envs.tools.calculator import CALCULATOR_SCHEMA, CalculatorError, CalculatorLimits, calculate
from embodied_rl.envs.tools.sandbox import PythonSandbox, SandboxLimits

__all__ = ["CalculatorTool", "PythonTool"]


class CalculatorTool(Tool):
    """``calculator(expression)``: exact arithmetic (see :mod:`embodied_rl.envs.tools.calculator`)."""

    name = CALCULATOR_SCHEMA["name"]
    description = CALCULATOR_SCHEMA["description"]
    parameters = {**CALCULATOR_SCHEMA["parameters"], "additionalProperties": False}

    def __init__(self, max_chars: int = 500) -> None:
        self.limits = CalculatorLimits(max_chars=max_chars)

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            return ToolResult(calculate(arguments["expression"], self.limits))
        except CalculatorError as err:
            raise ToolError(str(err)) from None


class PythonTool(Tool):
    """``python(code)``: run a Python program in the bubblewrap sandbox; stdout is the result.

    Args:
        timeout_s / cpu_s / memory_mb / max_output_bytes: :class:`SandboxLimits` of every run.
        allow_unsandboxed: Without bubblewrap, run code with rlimits only (unsafe, opt-in);
            otherwise a missing bwrap raises ``SandboxUnavailable`` when the env is made.
    """

    name = "python"
    description = (
        "Run a Python 3 program (standard library only) in a sandbox without network or files, and "
        "return what it prints. Use print() to see values."
    )
    parameters = {
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 1, "description": "the program"}},
        "required": ["code"],
        "additionalProperties": False,
    }

    def __init__(
        self,
        timeout_s: float = 5.0,
        cpu_s: int = 5,
        memory_mb: int = 512,
        max_output_bytes: int = 1024,
        allow_unsandboxed: bool = False,
    ) -> None:
        limits = SandboxLimits(
            timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes
        )
        self.sandbox = PythonSandbox(limits, allow_unsandboxed=allow_unsandboxed)

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        result = self.sandbox.run(arguments["code"])
        return ToolResult(
            result.to_observation(),
            error=None if result.ok else (result.error or f"exit code {result.exit_code}"),
        )
