"""The tool environments: experts, transcript format, invalid turns, tool errors, sandbox, rewards."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

import numpy as np
import pytest
import torch
from embodied_rl.envs import ENVS, group_seeds, make
from embodied_rl.envs.experts import expert_for
from embodied_rl.envs.tools.base import Tool, ToolContext, ToolResult
from embodied_rl.envs.tools.env import AnyText, ToolEnv
from embodied_rl.envs.tools.experts import tool_results
from embodied_rl.envs.tools.image import fit_view
from embodied_rl.envs.tools.protocol import ToolFormat, format_call
from embodied_rl.envs.wrappers.episode_stats import COUNTED_EVENTS, EpisodeStatistics

HAS_BWRAP = shutil.which("bwrap") is not None
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap (bwrap) is not installed")

TOOL_ENVS = [n for n in ENVS.names() if ENVS.entry(n).metadata.get("family") == "tools"]


def bound_kwargs(name: str) -> dict[str, Any]:
    """The registered ToolEnv options of a tool env (without the vector-env ``name``)."""
    return {k: v for k, v in ENVS.entry(name).metadata["kwargs"].items() if k != "name"}


ARITH = bound_kwargs("ToolArithmetic-v0")


def arith_env(**kwargs: Any) -> ToolEnv:
    return ToolEnv(**{**ARITH, **kwargs})


_FMT = ToolFormat()


def calc(expression: str) -> str:
    return format_call(_FMT, "calculator", {"expression": expression})


def last_result(text: str) -> str:
    """The text of the last result block of a transcript."""
    start = text.rindex("<tool_result>") + len("<tool_result>")
    return text[start : text.index("</tool_result>", start)]


def test_tool_envs_are_registered() -> None:
    assert TOOL_ENVS == ["ToolArithmetic-v0", "ToolCountdown-v0", "ToolSearchQA-v0", "ToolZoomCount-v0"]
    assert ENVS.entry("ToolCountdown-v0").metadata["requires_binary"] == "bwrap"


# ---- the scripted experts -------------------------------------------------------------------


@pytest.mark.parametrize("name", TOOL_ENVS)
def test_scripted_expert_solves_the_env(name: str) -> None:
    if ENVS.entry(name).metadata.get("requires_binary") == "bwrap" and not HAS_BWRAP:
        pytest.skip("bubblewrap (bwrap) is not installed")
    waves = 1 if name == "ToolCountdown-v0" else 2  # sandboxed Python is slower: 4 episodes there
    env = make(name, num_envs=4)
    expert = expert_for(name)
    rng = np.random.default_rng(0)
    outcomes: list[bool] = []
    try:
        for wave in range(waves):
            obs, _ = env.reset(seed=list(range(4 * wave, 4 * wave + 4)))
            finished: set[int] = set()
            for _ in range(4):  # max_turns
                actions = expert(obs, rng)
                assert len(actions) == 4 and all(isinstance(a, str) for a in actions)
                obs, reward, terminated, truncated, info = env.step(actions)
                assert isinstance(info["success"], torch.Tensor) and info["success"].dtype == torch.bool
                for i in range(4):
                    if i in finished:
                        continue
                    if not (terminated[i] or truncated[i]):
                        assert reward[i].item() == 0.0 and not info["success"][i]
                        assert json.loads(info["turn"][i])["kind"] == "call"
                        continue
                    finished.add(i)
                    assert terminated[i] and not truncated[i], "episodes must end with an answer"
                    assert actions[i].startswith("<answer>") and actions[i].endswith("</answer>")
                    assert json.loads(info["turn"][i])["kind"] == "answer"
                    success = bool(info["success"][i])
                    outcomes.append(success)
                    if success:
                        assert reward[i].item() == 1.0 and info["answer_score"][i] == 1.0
                    else:
                        assert 0.0 <= reward[i].item() < 1.0
                if len(finished) == 4:
                    break
            assert finished == {0, 1, 2, 3}
    finally:
        env.close()
    assert len(outcomes) == 4 * waves
    assert sum(outcomes) >= 0.95 * len(outcomes), outcomes


# ---- observations and the transcript ---------------------------------------------------------


def test_reset_observation_and_system_prompt_with_json_schemas() -> None:
    env = ToolEnv(task="knowledge_qa", tools=["search", "calculator"])
    obs, info = env.reset(seed=3)
    question = env.task.question
    assert info == {"success": False}
    assert set(obs) == {"instruction", "text"}
    assert obs["instruction"] == question and question.endswith(
        "Search the documents and answer with the profession only."
    )
    assert obs["text"] == f"{env.system}\n\nQuestion: {question}\n"
    assert env.system.startswith("You can use tools to answer the question.\nTools:\n")
    for tool in env.tools.values():
        line = json.dumps(tool.schema(), ensure_ascii=False)
        assert f"\n{line}\n" in env.system and '"parameters"' in line
    assert env.system.endswith(env.format.rules())
    assert env.observation_space["text"].contains(obs["text"])
    assert isinstance(env.action_space, AnyText) and env.action_space.contains("ä\x00😀")
    assert not env.action_space.contains("x" * 2049) and not env.action_space.contains(5)


def test_system_prompt_with_names_only() -> None:
    env = ToolEnv(task="knowledge_qa", tools=["search", "calculator"], schemas="names")
    tools = env.system.split("Tools:\n", 1)[1].split("\nTo call a tool", 1)[0].splitlines()
    assert tools == [
        "- search(query, top_k): Search a local document collection with BM25 keyword ranking and return "
        "the best matching documents, one per line as '[rank] title: text'.",
        "- calculator(expression): Evaluate an arithmetic expression with exact arithmetic (integers and "
        "fractions, no rounding).",
    ]
    assert '"parameters"' not in env.system
    custom = ToolEnv(task="knowledge_qa", system_prompt="T={tools}|R={rules}", schemas="names")
    assert custom.system == f"T={tools[0]}|R={custom.format.rules()}"  # knowledge_qa offers search only


def test_call_appends_the_action_and_the_result_block() -> None:
    env = arith_env()
    obs, _ = env.reset(seed=0)
    start = obs["text"]
    action = "Let me compute.\n" + calc("2**10 / 6")
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs["text"] == f"{start}{action}\n<tool_result>512/3</tool_result>\n"
    assert obs["instruction"] == env.task.question
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert (
        info["tool_call"] and not info["tool_error"] and info["action_valid"] and not info["invalid_action"]
    )
    assert json.loads(info["turn"]) == {
        "kind": "call",
        "tool": "calculator",
        "arguments": {"expression": "2**10 / 6"},
        "result": "512/3",
        "error": None,
        "action": action,
    }
    obs, reward, terminated, truncated, info = env.step("<answer> 12 </answer>")
    assert obs["text"].endswith("<tool_result>512/3</tool_result>\n<answer> 12 </answer>\n")
    assert terminated and not truncated and json.loads(info["turn"])["answer"] == "12"


def test_same_seed_same_observation() -> None:
    a, b = arith_env(), arith_env()
    obs_a, _ = a.reset(seed=11)
    obs_b, _ = b.reset(seed=11)
    assert obs_a == obs_b
    assert a.reset(seed=12)[0]["instruction"] != obs_a["instruction"]
    zoom_a, zoom_b = ToolEnv(task="zoom_count"), ToolEnv(task="zoom_count")
    va, vb = zoom_a.reset(seed=5)[0], zoom_b.reset(seed=5)[0]
    assert va["text"] == vb["text"] and np.array_equal(va["view"], vb["view"])
    assert not np.array_equal(zoom_a.reset(seed=6)[0]["view"], va["view"])


def test_group_seeds_give_equal_tasks_across_envs() -> None:
    env = make("ToolArithmetic-v0", num_envs=4)
    try:
        obs, _ = env.reset(seed=group_seeds(20, 4, 2))
        q = obs["instruction"]
        assert q[0] == q[1] and q[2] == q[3] and q[0] != q[2]
        assert obs["text"][0] == obs["text"][1] and obs["text"][2] == obs["text"][3]
        again, _ = env.reset(seed=[21, 20, 21, 20])
        assert again["instruction"] == [q[2], q[0], q[2], q[0]]
    finally:
        env.close()


# ---- invalid turns ----------------------------------------------------------------------------

LONG_EXPRESSION = "1+" * 600 + "1"
LONG_CALL = calc(LONG_EXPRESSION)
INVALID_TURNS = {
    "malformed json": (
        '<tool_call>{"name": "calculator", "arguments": {"expression": "1"}</tool_call>',
        "malformed JSON in the tool call: Expecting ',' delimiter: line 1 column 56",
    ),
    "unknown tool": (
        format_call(_FMT, "python", {"code": "print(1)"}),
        "unknown tool 'python'; available: calculator",
    ),
    "wrong argument type": (
        '<tool_call>{"name": "calculator", "arguments": {"expression": 5}}</tool_call>',
        "invalid arguments for calculator: at 'expression': 5 is not of type 'string'",
    ),
    "oversized arguments": (
        LONG_CALL,
        f"the tool call is {len(LONG_CALL) - len('<tool_call></tool_call>')} characters; the limit is 1024",
    ),
    "nested tags": (
        f"<tool_call>{calc('1')}</tool_call>",
        "nested <tool_call> tags: close each tool call before opening another",
    ),
    "duplicated tags": (
        calc("1") + calc("2"),
        "2 <tool_call> blocks in one turn; write exactly one tool call per turn",
    ),
    "no block": ("The answer is 4.", "no <tool_call>...</tool_call> or <answer>...</answer> found"),
}


@pytest.mark.parametrize("case", sorted(INVALID_TURNS))
def test_invalid_turn(case: str) -> None:
    action, error = INVALID_TURNS[case]
    env = arith_env(invalid_penalty=0.1)
    obs, _ = env.reset(seed=1)
    start = obs["text"]
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs["text"] == f"{start}{action}\n<tool_result>error: {error}</tool_result>\n"
    assert reward == pytest.approx(-0.1) and not terminated and not truncated
    assert info["action_valid"] is False and info["invalid_action"] is True
    assert not info["tool_call"] and not info["tool_error"] and not info["success"]
    record = json.loads(info["turn"])
    assert record["kind"] == "invalid" and record["error"] == error and record["result"] is None
    # The episode goes on: a valid call right after works.
    obs, reward, terminated, _, info = env.step(calc("6*7"))
    assert last_result(obs["text"]) == "42" and reward == 0.0 and not terminated and info["action_valid"]

    ended = arith_env(invalid_penalty=0.1, end_on_invalid=True)
    ended.reset(seed=1)
    obs, reward, terminated, truncated, info = ended.step(action)
    assert terminated and not truncated and reward == pytest.approx(-0.1) and info["invalid_action"]
    assert last_result(obs["text"]) == f"error: {error}"


def test_action_longer_than_max_action_chars() -> None:
    env = arith_env(max_action_chars=100, invalid_penalty=0.25)
    obs, _ = env.reset(seed=2)
    start = obs["text"]
    action = calc("1+1") + " " + "y" * 150  # a valid call, but the turn is too long
    obs, reward, terminated, _, info = env.step(action)
    error = f"the turn is {len(action)} characters; the limit is 100"
    cut = f"{action[:75]}\n... [{len(action) - 100} characters cut] ...\n{action[-25:]}"
    assert obs["text"] == f"{start}{cut}\n<tool_result>error: {error}</tool_result>\n"
    assert reward == -0.25 and not terminated and not info["action_valid"] and info["invalid_action"]
    assert not info["tool_call"]
    assert json.loads(info["turn"]) == {
        "kind": "invalid",
        "tool": None,
        "arguments": None,
        "result": None,
        "error": error,
        "action": cut,
    }
    # Exactly at the limit is fine.
    assert env.step("<answer>" + "1" * 83 + "</answer>".ljust(9))[4]["action_valid"] is True


def test_non_string_action_is_converted() -> None:
    env = arith_env()
    env.reset(seed=0)
    obs, _, _, _, info = env.step(12345)
    assert info["invalid_action"] and "\n12345\n<tool_result>error: no <tool_call>" in obs["text"]


def test_step_before_reset_raises() -> None:
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        arith_env().step("<answer>1</answer>")


def test_custom_tags_through_the_env() -> None:
    tags = {"call_open": "<fn>", "call_close": "</fn>", "answer_open": "<final>", "answer_close": "</final>"}
    tags |= {"result_open": "<out>", "result_close": "</out>"}
    env = arith_env(tags=tags)
    obs, _ = env.reset(seed=0)
    assert "<fn>" in obs["text"] and "<tool_call>" not in obs["text"]
    obs, _, _, _, info = env.step('<fn>{"name": "calculator", "arguments": {"expression": "3*3"}}</fn>')
    assert info["tool_call"] and obs["text"].endswith("</fn>\n<out>9</out>\n")
    obs, _, terminated, _, info = env.step(calc("3*3"))
    assert info["invalid_action"] and not terminated
    assert obs["text"].endswith("<out>error: no <fn>...</fn> or <final>...</final> found</out>\n")
    assert env.expert_action(env.source.expert(env.task.question, [], None)).startswith('<fn>{"name"')


# ---- tool errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("1/0", "division by zero"),
        (
            "foo(1)",
            "unknown function 'foo'; allowed: Rational, abs, binomial, ceil, ceiling, factorial, floor, frac, "
            "gcd, lcm, max, min, sqrt",
        ),
    ],
)
def test_calculator_error_is_a_tool_error(expression: str, error: str) -> None:
    env = arith_env(invalid_penalty=0.1, tool_rewards={"calculator": 0.5})
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(calc(expression))
    assert info["tool_call"] and info["tool_error"] and info["action_valid"] and not info["invalid_action"]
    assert reward == 0.0 and not terminated  # no penalty, no tool reward for a failed call
    assert last_result(obs["text"]) == f"error: {error}"
    record = json.loads(info["turn"])
    assert record["kind"] == "call" and record["error"] == error and record["result"] == f"error: {error}"


class Boom(Tool):
    name = "calculator"
    description = "explodes"
    parameters = {"type": "object", "properties": {"expression": {"type": "string"}}}

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        raise KeyError("kaboom")


class Echo(Tool):
    name = "calculator"
    description = "returns a long text"
    parameters = {"type": "object", "properties": {"expression": {"type": "string"}}}

    def __init__(self, text: str, image: Any = None) -> None:
        self.text, self.image = text, image

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        return ToolResult(self.text, image=self.image)


def test_a_tool_that_raises_does_not_crash_the_env(caplog: pytest.LogCaptureFixture) -> None:
    env = arith_env(tool_rewards={"calculator": 1.0})
    env.reset(seed=0)
    env.tools["calculator"] = Boom()
    obs, reward, terminated, _, info = env.step(calc("1+1"))
    message = "tool 'calculator' failed: KeyError: 'kaboom'"
    assert info["tool_error"] and info["tool_call"] and info["action_valid"] and not terminated
    assert reward == 0.0
    assert last_result(obs["text"]) == f"error: {message}"
    assert json.loads(info["turn"])["error"] == message
    assert "tool calculator raised KeyError" in caplog.text
    _, reward, terminated, _, info = env.step("<answer>2</answer>")  # the episode still ends normally
    assert terminated and info["action_valid"] and reward == float(env.task.answer == "2")


def test_long_tool_results_are_cut_in_the_transcript() -> None:
    env = arith_env(max_result_chars=100)
    env.reset(seed=0)
    env.tools["calculator"] = Echo("z" * 3000)
    obs, *_ = env.step(calc("1"))
    # head and tail kept (a program's error line is at the end), the cut counted in between
    assert last_result(obs["text"]) == "z" * 75 + "\n... [2900 characters cut] ...\n" + "z" * 25


def test_turn_record_of_a_long_result_is_valid_json() -> None:
    env = arith_env()
    env.reset(seed=0)
    env.tools["calculator"] = Echo("\x01" * 4000)  # 6 characters each once JSON-escaped
    info = env.step(calc("1"))[4]
    assert json.loads(info["turn"])["kind"] == "call"


def test_a_tool_returning_a_bad_image_does_not_crash_the_env() -> None:
    env = arith_env()
    env.reset(seed=0)
    env.tools["calculator"] = Echo("img", image=np.zeros((4, 4), np.float32))
    info = env.step(calc("1"))[4]
    assert info["tool_error"]


# ---- the sandbox through the env -------------------------------------------------------------

SANDBOX_CASES = {
    "read /etc/passwd": ("print(open('/etc/passwd').read())", "FileNotFoundError", 3.0),
    "read the repo": ("print(open('/work/main/pyproject.toml').read())", "FileNotFoundError", 3.0),
    "network": (
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\nprint('CONNECTED')",
        "OSError",
        4.0,
    ),
    "infinite loop": ("while True:\n    pass", "[error] timed out after 1 s", 4.0),
    # The transcript keeps the head of the output and its tail, where the error line is.
    "output flood": ("print('x' * 10_000_000)", "[error] output limit exceeded", 3.0),
    "memory": ("b = bytearray(4 * 1024**3)\nprint(len(b))", "[error] memory limit exceeded (512 MB)", 3.0),
}


@needs_bwrap
@pytest.mark.parametrize("case", sorted(SANDBOX_CASES))
def test_sandbox_escapes_are_contained(case: str) -> None:
    code, expected, seconds = SANDBOX_CASES[case]
    env = make(
        "ToolArithmetic-v0",
        num_envs=1,
        tools=["calculator", "python"],
        tool_kwargs={"python": {"timeout_s": 1, "cpu_s": 1}},
    )
    try:
        env.reset(seed=0)
        start = time.monotonic()
        obs, reward, terminated, truncated, info = env.step([format_call(_FMT, "python", {"code": code})])
        assert time.monotonic() - start < seconds
        result = last_result(obs["text"][0])
        assert info["tool_error"][0] and info["tool_call"][0] and info["action_valid"][0]
        assert not terminated[0] and not truncated[0] and reward[0].item() == 0.0
        assert expected in result
        record = json.loads(info["turn"][0])
        assert record["kind"] == "call" and record["tool"] == "python" and record["error"]
        if case == "output flood":
            assert record["error"] == "output limit exceeded"
        assert "root:" not in result and "[project]" not in result and "CONNECTED" not in result
        assert len(result) < 10_000
        obs, _, _, _, info = env.step([calc("6*7")])
        assert last_result(obs["text"][0]) == "42" and not info["tool_error"][0]
    finally:
        env.close()


@needs_bwrap
def test_python_error_line_survives_a_long_output() -> None:
    env = arith_env(tools=["calculator", "python"])
    env.reset(seed=0)
    obs, _, _, _, info = env.step(format_call(_FMT, "python", {"code": "print('x' * 3000)\n1/0"}))
    assert info["tool_error"]
    assert "ZeroDivisionError" in last_result(obs["text"])


# ---- reward terms ---------------------------------------------------------------------------


def test_format_reward_on_well_formed_answers() -> None:
    env = arith_env(format_reward=0.5, invalid_penalty=0.1)
    env.reset(seed=0)
    right = env.task.answer
    assert env.step(f"<answer>{right}</answer>")[1] == 1.5
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("<answer>not a number</answer>")
    assert reward == 0.5 and terminated and not info["success"] and info["answer_score"] == 0.0
    env.reset(seed=0)
    assert env.step("<answer> </answer>")[1] == pytest.approx(-0.1)  # not well-formed: no format reward


def test_tool_rewards_once_per_tool_and_only_for_successful_calls() -> None:
    env = arith_env(tool_rewards={"calculator": 0.2})
    env.reset(seed=0)
    assert env.step(calc("1/0"))[1] == 0.0  # a failed call pays nothing ...
    assert env.step(calc("1+1"))[1] == pytest.approx(0.2)  # ... and does not use up the reward
    assert env.step(calc("2+2"))[1] == 0.0  # second successful call of the same tool
    env.reset(seed=1)
    assert env.step(calc("3+3"))[1] == pytest.approx(0.2)  # paid again in a new episode


def test_invalid_reward_configuration() -> None:
    with pytest.raises(ValueError, match=r"tool_rewards for tools not offered: \['python'\]"):
        arith_env(tool_rewards={"python": 1.0})
    with pytest.raises(ValueError, match="schemas must be one of"):
        arith_env(schemas="bad")
    with pytest.raises(ValueError, match=r"tool_kwargs for tools not offered: \['search'\]"):
        arith_env(tool_kwargs={"search": {}})
    with pytest.raises(ValueError, match="max_call_chars must be >= 1"):
        arith_env(max_call_chars=0)
    with pytest.raises(ValueError, match="max_turns must be >= 1"):
        make("ToolArithmetic-v0", num_envs=1, max_turns=0)


# ---- the time limit and counters --------------------------------------------------------------


def test_max_turns_truncates_without_an_answer() -> None:
    env = make("ToolArithmetic-v0", num_envs=1, max_turns=3)
    try:
        obs, _ = env.reset(seed=4)
        question = obs["instruction"][0]
        actions = ["hmm", calc("1+1"), "<answer>"]
        for step, action in enumerate(actions, 1):
            obs, reward, terminated, truncated, info = env.step([action])
            assert reward[0].item() == 0.0 and not terminated[0]
            assert bool(truncated[0]) == (step == 3)
        final = info["final_obs"]["text"][0]
        assert final.startswith(obs["text"][0].split("\n\nQuestion: ")[0])
        assert f"Question: {question}\nhmm\n<tool_result>error: no <tool_call>" in final
        assert f"{calc('1+1')}\n<tool_result>2</tool_result>\n<answer>\n" in final
        assert final.endswith("<tool_result>error: <answer> is not closed with </answer></tool_result>\n")
        assert info["final_obs"]["instruction"][0] == question
        # The returned obs is already the next episode's fresh transcript.
        assert obs["text"][0].endswith(f"Question: {obs['instruction'][0]}\n")
        assert not info["success"][0]
    finally:
        env.close()


def test_episode_statistics_count_tool_events() -> None:
    assert {"invalid_action", "tool_call", "tool_error"} <= set(COUNTED_EVENTS)
    env = EpisodeStatistics(make("ToolArithmetic-v0", num_envs=2, max_turns=6))
    try:
        env.reset(seed=[0, 1])
        script = [
            ["nothing", calc("1+1")],
            [calc("2+2"), "<answer>"],
            [calc("1/0"), calc("x")],
            ["<answer>wrong</answer>", "<answer>wrong</answer>"],
        ]
        for actions in script:
            _, _, terminated, truncated, info = env.step(actions)
        assert terminated.tolist() == [True, True] and truncated.tolist() == [False, False]
        episode = info["episode"]
        assert episode["env_idx"].tolist() == [0, 1]
        assert episode["length"].tolist() == [4, 4]
        assert episode["invalid_action"].tolist() == [1, 1]
        assert episode["tool_call"].tolist() == [2, 2]
        assert episode["tool_error"].tolist() == [1, 1]  # 1/0 and the unknown name x
        assert episode["success"].tolist() == [False, False]
    finally:
        env.close()


# ---- the image env --------------------------------------------------------------------------


def test_zoom_env_view_changes_with_a_crop() -> None:
    env = make("ToolZoomCount-v0", num_envs=2)
    try:
        obs, _ = env.reset(seed=[0, 0])
        view = obs["images"]["view"]
        assert view.dtype == torch.uint8 and tuple(view.shape) == (2, 128, 128, 3)
        assert torch.equal(view[0], view[1])
        crop = format_call(_FMT, "crop_image", {"bbox": [0, 0, 64, 64]})
        bad = format_call(_FMT, "crop_image", {"bbox": [10, 10, 5, 5]})
        obs, _, _, _, info = env.step([crop, bad])
        new = obs["images"]["view"]
        assert info["tool_error"].tolist() == [False, True] and info["tool_call"].tolist() == [True, True]
        assert not torch.equal(new[0], view[0])
        assert torch.equal(new[1], view[1])  # a failed call leaves the view as it was
        assert last_result(obs["text"][0]) == "cropped [0, 0, 64, 64] (64 x 64 px) of the 512x512 image"
        assert (
            last_result(obs["text"][1]) == "error: bbox [10, 10, 5, 5]: x1 (5) must be greater than x0 (10)"
        )
    finally:
        env.close()


def test_zoom_view_is_the_fitted_crop() -> None:
    env = ToolEnv(task="zoom_count")
    obs, _ = env.reset(seed=2)
    assert np.array_equal(obs["view"], fit_view(env.task.image, 128))
    obs, *_ = env.step(format_call(env.format, "crop_image", {"bbox": [100, 50, 200, 100]}))
    assert obs["view"].dtype == np.uint8 and obs["view"].shape == (128, 128, 3)
    assert np.array_equal(obs["view"], fit_view(env.task.image[50:100, 100:200], 128))
    obs, *_ = env.reset(seed=2)
    assert np.array_equal(obs["view"], fit_view(env.task.image, 128))  # reset restores the full view


def test_image_tools_on_a_text_task_are_tool_errors() -> None:
    env = arith_env(tools=["calculator", "crop_image"])
    obs, _ = env.reset(seed=0)
    assert "view" not in obs
    obs, _, _, _, info = env.step(format_call(env.format, "crop_image", {"bbox": [0, 0, 8, 8]}))
    assert info["tool_error"] and last_result(obs["text"]) == "error: this task has no image"


# ---- tool_results -------------------------------------------------------------------------------


def test_tool_results_extracts_blocks_in_order_after_the_question() -> None:
    text = (
        "system: results look like <r>EXAMPLE</r>\n\nQuestion: what?\n"
        "call 1\n<r>first</r>\ncall 2\n<r>sec\nond</r>\n<r></r>\n<r>unclosed"
    )
    assert tool_results(text, "<r>", "</r>") == ["first", "sec\nond", ""]
    assert tool_results("no question <r>x</r>", "<r>", "</r>") == ["x"]
    env = arith_env()
    obs, _ = env.reset(seed=0)
    assert tool_results(obs["text"], "<tool_result>", "</tool_result>") == []  # the rules' example is skipped
    env.step(calc("1+2"))
    env.step("oops")
    obs, *_ = env.step(calc("2*5"))
    assert tool_results(obs["text"], "<tool_result>", "</tool_result>") == [
        "3",
        "error: no <tool_call>...</tool_call> or <answer>...</answer> found",
        "10",
    ]


def test_render_draws_the_conversation_and_the_view() -> None:
    from embodied_rl.envs.tools.env import ToolEnv

    env = ToolEnv(schemas="names", render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    env.step(calc("1+1"))
    assert not np.array_equal(first, env.render())  # the new turn is drawn
    assert ToolEnv(schemas="names").render() is None
    zoom = ToolEnv(task="zoom_count", render_mode="rgb_array", view_size=96)
    zoom.reset(seed=0)
    frame = zoom.render()
    assert frame.shape[1] == first.shape[1] + 96 and np.array_equal(frame[:96, :96], zoom.view)
    with pytest.raises(ValueError, match="render_mode"):
        ToolEnv(render_mode="human")
