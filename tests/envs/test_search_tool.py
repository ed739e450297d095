"""The BM25 search tool, the shipped knowledge corpus and the KnowledgeQA task source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from embodied_rl.envs.tools.base import ToolContext, ToolError
from embodied_rl.envs.tools.knowledge import QUESTIONS, KnowledgeQA, build_corpus, write_corpus
from embodied_rl.envs.tools.search import DEFAULT_CORPUS, SearchTool, load_corpus

CTX = ToolContext()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _doc(doc_id: str, title: str, text: str) -> str:
    return json.dumps({"id": doc_id, "title": title, "text": text})


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "tiny.jsonl",
        [
            _doc("a", "Apple orchards", "Apples grow in orchards across the valley of Quimby."),
            _doc("b", "Harbour", "The harbour of Quimby shelters fishing boats and ferries."),
            _doc("c", "Zorblat", "Zorblat is a rare purple mineral mined near Quimby."),
            _doc("d", "Bakery", "The bakery sells bread, pies and apple tarts."),
        ],
    )


# ---- load_corpus ---------------------------------------------------------------------------


def test_load_corpus_reads_documents_and_skips_blank_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.jsonl",
        [_doc("1", "T", "x"), "", json.dumps({"id": "2", "title": "U", "text": "y", "extra": 3})],
    )
    assert load_corpus(path) == [
        {"id": "1", "title": "T", "text": "x"},
        {"id": "2", "title": "U", "text": "y"},
    ]


def test_load_corpus_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_corpus(missing)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"id": "3", "title": "T"', r"corpus\.jsonl line 3: not valid JSON"),
        ('["id", "title", "text"]', r"corpus\.jsonl line 3: expected a JSON object, got list"),
        (json.dumps({"id": "3", "title": "T"}), r"corpus\.jsonl line 3: missing field 'text'"),
        (
            json.dumps({"id": 3, "title": "T", "text": "x"}),
            r"corpus\.jsonl line 3: field 'id' must be a string, got int",
        ),
        (json.dumps({"id": " ", "title": "T", "text": "x"}), r"corpus\.jsonl line 3: field 'id' is empty"),
        (_doc("1", "T", "dup"), r"corpus\.jsonl line 3: duplicate id '1' \(first on line 1\)"),
    ],
)
def test_load_corpus_bad_line_names_line_and_problem(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path / "corpus.jsonl", [_doc("1", "T", "x"), _doc("2", "U", "y"), bad])
    with pytest.raises(ValueError, match=message):
        load_corpus(path)


def test_load_corpus_rejects_invalid_utf8_and_empty_corpus(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.jsonl"
    bad.write_bytes(_doc("1", "T", "x").encode() + b"\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"corpus\.jsonl line 2: not valid UTF-8"):
        load_corpus(bad)
    empty = _write(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(ValueError, match="no documents"):
        load_corpus(empty)


# ---- shipped corpus --------------------------------------------------------------------------


def test_shipped_corpus_matches_generator_and_is_unique(tmp_path: Path) -> None:
    shipped = load_corpus(DEFAULT_CORPUS)
    generated = build_corpus()
    assert shipped == generated, "regenerate with: python -m embodied_rl.envs.tools.knowledge"
    assert DEFAULT_CORPUS.read_bytes() == write_corpus(tmp_path / "k.jsonl").read_bytes()
    assert 150 <= len(generated) <= 250
    assert len({d["id"] for d in generated}) == len(generated)
    assert len({d["title"] for d in generated}) == len(generated)
    assert build_corpus() == generated  # deterministic
    assert max(len(d["text"]) for d in generated) < 400  # never clipped by the default tool
    provinces = [m.group(1) for d in generated if (m := re.search(r"province of (\w+)", d["text"]))]
    assert len(provinces) > 2 * len(set(provinces))  # distractors: provinces recur


# ---- SearchTool ------------------------------------------------------------------------------


def test_schema() -> None:
    schema = SearchTool().schema()
    assert schema["name"] == "search" and "BM25" in schema["description"]
    params = schema["parameters"]
    assert params["required"] == ["query"] and params["additionalProperties"] is False
    assert params["properties"]["query"]["maxLength"] == 300
    assert params["properties"]["top_k"]["maximum"] == 5


def test_ranks_the_right_document_first(tiny: Path) -> None:
    text = SearchTool(tiny)({"query": "Zorblat mineral"}, CTX).text
    lines = text.splitlines()
    assert lines[0] == "[1] Zorblat: Zorblat is a rare purple mineral mined near Quimby."
    assert all(re.match(r"\[\d\] .+: ", line) for line in lines)
    assert SearchTool(tiny)({"query": "where do apples grow in orchards"}, CTX).text.startswith(
        "[1] Apple orchards:"
    )


def test_top_k_is_respected(tiny: Path) -> None:
    tool = SearchTool(tiny, top_k=2)
    assert len(tool({"query": "Quimby"}, CTX).text.splitlines()) == 2  # 3 docs mention Quimby
    assert len(tool({"query": "Quimby", "top_k": 1}, CTX).text.splitlines()) == 1
    assert len(tool({"query": "Quimby", "top_k": 5}, CTX).text.splitlines()) == 3  # only matching docs
    with pytest.raises(ToolError, match="top_k"):
        tool({"query": "Quimby", "top_k": 6}, CTX)
    with pytest.raises(ValueError, match="top_k"):
        SearchTool(tiny, top_k=0)


def test_no_match_and_empty_query(tiny: Path) -> None:
    tool = SearchTool(tiny)
    assert tool({"query": "  xylophone  "}, CTX).text == "no results for 'xylophone'"
    assert tool({"query": "the and of"}, CTX).text == "no results for 'the and of'"  # stopwords only
    for query in ["", "   \n\t"]:
        with pytest.raises(ToolError, match="empty"):
            tool({"query": query}, CTX)


def test_clipping(tiny: Path) -> None:
    text = SearchTool(tiny, max_chars_per_doc=20)({"query": "Zorblat"}, CTX).text
    assert text == "[1] Zorblat: Zorblat is a rare p…"
    assert len(text.removeprefix("[1] Zorblat: ")) == 20


def test_odd_unicode_does_not_crash(tiny: Path) -> None:
    tool = SearchTool(tiny)
    odd = ("😀\x00\x07\u202e\ufeff\ud800ẞ̴̡̛日本語\u200b" * 30)[:300]
    assert len(odd) == 300
    text = tool({"query": odd}, CTX).text
    assert text.startswith("no results for")
    text.encode("utf-8")  # the lone surrogate is not echoed back
    assert tool({"query": "ZORBLAT 😀\x00"}, CTX).text.startswith("[1] Zorblat:")


def test_index_is_cached_and_refreshed_on_change(tiny: Path) -> None:
    assert SearchTool(tiny)._index is SearchTool(tiny)._index
    with tiny.open("a", encoding="utf-8") as f:
        f.write(_doc("e", "Quasar", "A quasar is a bright galactic nucleus.") + "\n")
    assert SearchTool(tiny)({"query": "quasar"}, CTX).text.startswith("[1] Quasar:")


def test_missing_corpus_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        SearchTool(tmp_path / "missing.jsonl")


# ---- KnowledgeQA -----------------------------------------------------------------------------


def test_answers_are_in_exactly_the_named_document() -> None:
    docs = {d["id"]: d for d in build_corpus()}
    qa = KnowledgeQA()
    seen = set()
    for seed in range(600):
        task = qa.sample(seed)
        doc = docs[task.meta["doc_id"]]
        assert doc["title"] == task.meta["entity"] and doc["title"] in task.question
        assert task.meta["attribute"] in QUESTIONS
        assert task.answer and task.answer in doc["text"]
        assert task.verify(task.answer) == 1.0 and task.verify("unknown") == 0.0
        found = re.search(
            QUESTIONS[task.meta["attribute"]].pattern.replace("{name}", re.escape(doc["title"])), doc["text"]
        )
        assert found and found.group(1) == task.answer  # the attribute's sentence states exactly this answer
        seen.add(task.meta["doc_id"])
    assert len(seen) >= 180  # different seeds cover many of the 200 entities


def test_same_seed_same_task() -> None:
    a, b = KnowledgeQA().sample(123), KnowledgeQA().sample(123)
    assert (a.question, a.answer, a.meta) == (b.question, b.answer, b.meta)
    assert len({KnowledgeQA().sample(s).question for s in range(20)}) > 15


def test_verify_normalisation() -> None:
    qa = KnowledgeQA()
    tasks = {qa.sample(s).meta["attribute"]: qa.sample(s) for s in range(400)}
    population = tasks["town.population"]
    assert "," in population.answer or int(population.answer) < 1000
    assert population.verify(population.answer.replace(",", "")) == 1.0
    assert population.verify(f" {population.answer}. ") == 1.0
    assert population.verify(population.answer + "0") == 0.0
    river = tasks["town.river"]
    assert river.answer.endswith(" River")
    for form in [
        river.answer,
        river.answer.lower(),
        "the " + river.answer,
        river.answer.removesuffix(" River"),
    ]:
        assert river.verify(form) == 1.0, form
    mayor = tasks["town.mayor"]
    assert mayor.verify(mayor.answer.split()[0]) == 0.0  # first name alone is not enough


def test_custom_corpus_must_contain_generated_documents(tmp_path: Path) -> None:
    docs = build_corpus()
    extra = _write(tmp_path / "extra.jsonl", [json.dumps(d) for d in docs] + [_doc("x", "Extra", "more")])
    KnowledgeQA(extra)
    short = _write(tmp_path / "short.jsonl", [json.dumps(d) for d in docs[1:]])
    with pytest.raises(ValueError, match="lacks the generated document 'river-001'"):
        KnowledgeQA(short)


def test_expert_first_turn_is_a_search_from_the_question_only() -> None:
    qa = KnowledgeQA()
    task = qa.sample(7)
    turn = qa.expert(task.question, [], None)
    assert turn.tool == "search" and set(turn.arguments) == {"query"}
    assert task.meta["entity"] in turn.arguments["query"]
    assert qa.expert(task.question, ["no results for 'x'"], None).answer == "unknown"
    assert qa.expert("What is the capital of France?", [], None).answer == "unknown"


def test_expert_solves_tasks_end_to_end() -> None:
    qa, tool = KnowledgeQA(), SearchTool()
    n, solved, ranked_first = 200, 0.0, 0
    for seed in range(n):
        task = qa.sample(seed)
        call = qa.expert(task.question, [], None)
        assert call.tool == "search"
        result = tool(call.arguments, ToolContext(seed=seed)).text
        ranked_first += result.startswith(f"[1] {task.meta['entity']}:")
        answer = qa.expert(task.question, [result], None)
        assert answer.answer is not None
        solved += task.verify(answer.answer)
    rate = solved / n
    print(f"expert success rate {rate:.3f}, right document ranked first {ranked_first / n:.3f}")
    assert rate >= 0.95
    assert ranked_first / n >= 0.95
