"""A BM25 search tool over a local document collection (a JSONL corpus).

Corpus format (see :func:`load_corpus`): a UTF-8 JSONL file, one JSON object per line with the
string fields ``"id"`` (unique, non-empty), ``"title"`` and ``"text"``; other fields are ignored
and blank lines are skipped. The shipped corpus is :data:`DEFAULT_CORPUS` (fictional facts, built
by :mod:`embodied_rl.envs.tools.knowledge`).

Indexing: title and text of each document are tokenized together with ``bm25s.tokenize``
(lowercase, words of two or more word characters, English stopwords removed, no stemming) and
indexed with ``bm25s.BM25``. The index is built once per corpus file and cached at module level,
keyed on the resolved path, modification time and size, so the many env copies of a vector env
share it (and an edited file is re-indexed).

Result format (see :meth:`SearchTool.__call__`): one line per hit, best first,
``"[1] <title>: <text>"``, with whitespace in the text collapsed to single spaces and the text
clipped to ``max_chars_per_doc`` characters (a clipped text ends with ``"…"``). Only documents
sharing at least one query term are returned; a query with none gives
``"no results for '<query>'"``. Result texts are always encodable as UTF-8 (a lone surrogate in
a query or document becomes ``"?"``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from embodied_rl.envs.tools.base import Tool, ToolContext, ToolError, ToolResult

__all__ = ["DEFAULT_CORPUS", "MAX_QUERY_CHARS", "MAX_TOP_K", "SearchTool", "load_corpus"]

DEFAULT_CORPUS: Path = Path(__file__).parent / "data" / "knowledge.jsonl"
"""The shipped corpus of fictional facts (written by ``python -m embodied_rl.envs.tools.knowledge``)."""

MAX_QUERY_CHARS = 300
MAX_TOP_K = 5
_FIELDS = ("id", "title", "text")
_STOPWORDS = "en"


def load_corpus(path: str | Path) -> list[dict[str, str]]:
    """Reads a JSONL corpus.

    Args:
        path: A UTF-8 file with one JSON object per line, each with the string fields ``"id"``
            (non-empty, unique), ``"title"`` and ``"text"``. Blank lines are skipped; other fields
            are dropped.

    Returns:
        The documents in file order, each ``{"id", "title", "text"}``.

    Raises:
        FileNotFoundError: If ``path`` does not exist (the message names it).
        ValueError: For a line that is not valid UTF-8 or JSON, not an object, lacks a field or has
            a non-string or empty-id field (``"corpus.jsonl line 17: ..."``), for a duplicate id,
            and for a corpus without documents.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    docs: list[dict[str, str]] = []
    first_line: dict[str, int] = {}
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            where = f"{path.name} line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{where}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            for name in _FIELDS:
                if name not in obj:
                    raise ValueError(f"{where}: missing field '{name}'")
                if not isinstance(obj[name], str):
                    raise ValueError(
                        f"{where}: field '{name}' must be a string, got {type(obj[name]).__name__}"
                    )
            doc_id = obj["id"]
            if not doc_id.strip():
                raise ValueError(f"{where}: field 'id' is empty")
            if doc_id in first_line:
                raise ValueError(f"{where}: duplicate id {doc_id!r} (first on line {first_line[doc_id]})")
            first_line[doc_id] = number
            docs.append({name: obj[name] for name in _FIELDS})
    if not docs:
        raise ValueError(f"{path.name}: the corpus has no documents")
    return docs


@dataclass(frozen=True)
class _Index:
    """A corpus and its BM25 index."""

    docs: list[dict[str, str]]
    retriever: bm25s.BM25


def _tokenize(texts: list[str]) -> Any:
    """The one tokenizer used for documents and queries (ids for indexing)."""
    return bm25s.tokenize(texts, stopwords=_STOPWORDS, show_progress=False)


@functools.lru_cache(maxsize=8)
def _build_index(resolved: str, mtime_ns: int, size: int) -> _Index:
    """Loads and indexes the corpus at ``resolved``; cached per (path, mtime, size)."""
    del mtime_ns, size  # cache key only: a changed file gets a fresh index
    docs = load_corpus(resolved)
    retriever = bm25s.BM25()
    retriever.index(_tokenize([f"{d['title']}\n{d['text']}" for d in docs]), show_progress=False)
    return _Index(docs=docs, retriever=retriever)


def _index_for(path: Path) -> _Index:
    """The cached index of the corpus file ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    resolved = path.resolve()
    stat = resolved.stat()
    return _build_index(str(resolved), stat.st_mtime_ns, stat.st_size)


def _clip(text: str, limit: int) -> str:
    """Collapses whitespace and clips to ``limit`` characters (ending in "…" when clipped)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _encodable(text: str) -> str:
    """``text`` with characters UTF-8 cannot encode (lone surrogates) replaced by ``"?"``."""
    return text.encode("utf-8", "replace").decode("utf-8")


class SearchTool(Tool):
    """BM25 search over a local JSONL corpus (see the module docstring for formats).

    Args:
        corpus: The corpus file; None for :data:`DEFAULT_CORPUS`. It is loaded and indexed here
            (once per file per process), so a broken corpus fails at construction.
        top_k: Hits returned when a call does not pass ``top_k`` (1 to 5).
        max_chars_per_doc: Each hit's text is clipped to this many characters.
    """

    name = "search"
    description = (
        "Search a local document collection with BM25 keyword ranking and return the best matching "
        "documents, one per line as '[rank] title: text'. Use specific keywords (names, terms)."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_QUERY_CHARS,
                "description": "Keywords to search for, e.g. a name and the attribute you need.",
            },
            "top_k": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TOP_K,
                "description": "How many documents to return (default 3).",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    def __init__(
        self, corpus: str | Path | None = None, top_k: int = 3, max_chars_per_doc: int = 400
    ) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
        if (
            isinstance(max_chars_per_doc, bool)
            or not isinstance(max_chars_per_doc, int)
            or max_chars_per_doc < 2
        ):
            raise ValueError(f"max_chars_per_doc must be an integer >= 2, got {max_chars_per_doc!r}")
        self.corpus = Path(corpus) if corpus is not None else DEFAULT_CORPUS
        self.top_k = top_k
        self.max_chars_per_doc = max_chars_per_doc
        self._index = _index_for(self.corpus)

    def search(self, query: str, top_k: int | None = None) -> list[tuple[dict[str, str], float]]:
        """The best ``top_k`` documents sharing a term with ``query``, best first, with BM25 scores.

        Ties keep corpus order. Returns ``[]`` when no query term occurs in the corpus.
        """
        k = self.top_k if top_k is None else top_k
        tokens = bm25s.tokenize(query, stopwords=_STOPWORDS, return_ids=False, show_progress=False)[0]
        vocab = self._index.retriever.vocab_dict
        known = [t for t in tokens if t and t in vocab]
        if not known:
            return []
        scores = np.asarray(self._index.retriever.get_scores(known), dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self._index.docs[i], float(scores[i])) for i in order if scores[i] > 0]

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Runs a search.

        Args:
            arguments: ``{"query": str, "top_k": int (optional, 1..5)}``.
            context: Unused.

        Returns:
            The hits as ``"[1] <title>: <text>"`` lines, or ``"no results for '<query>'"``.

        Raises:
            ToolError: For a query that is not a string, is empty after stripping or is longer
                than 300 characters, and for a ``top_k`` outside 1..5.
        """
        query = arguments.get("query")
        if not isinstance(query, str):
            raise ToolError(f"query must be a string, got {type(query).__name__}")
        query = query.strip()
        if not query:
            raise ToolError("query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"query has {len(query)} characters; limit is {MAX_QUERY_CHARS}")
        top_k = arguments.get("top_k", self.top_k)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ToolError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
        hits = self.search(query, top_k)
        if not hits:
            return ToolResult(_encodable(f"no results for '{query}'"))
        lines = [
            f"[{rank}] {' '.join(doc['title'].split())}: {_clip(doc['text'], self.max_chars_per_doc)}"
            for rank, (doc, _) in enumerate(hits, start=1)
        ]
        return ToolResult(_encodable("\n".join(lines)))
