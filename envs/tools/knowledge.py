"""A corpus of fictional facts and a question-answering task source that needs the search tool.

Corpus (:func:`build_corpus`): 200 short documents about made-up entities, generated
deterministically from fixed word lists with ``random.Random(0)``, so no model can know the
facts without searching. Every entity name is unique and is the document's title:

* 24 rivers (``river-001``...): ``"The Brask River rises in the Kestrel Mountains and flows into
  Lake Tessel. It is 412 kilometres long."``
* 110 towns (``town-001``...): ``"Varnholt is a town in the province of Ellira, on the Brask River.
  It was founded in 1742. Its population is 18,400. The town's main export is blue salt. Its mayor
  is Ilsa Marrow."``
* 66 people (``person-001``...): ``"Ilsa Marrow was a clockmaker born in Varnholt in 1801. Ilsa
  Marrow's best-known invention is the tide loom. Ilsa Marrow died in 1866."``

Provinces, rivers, towns and exports recur across many documents (distractors), so retrieval is not
trivial, but the entity's name makes its own document rank first. The shipped copy is
:data:`embodied_rl.envs.tools.search.DEFAULT_CORPUS`; regenerate it with
``python -m embodied_rl.envs.tools.knowledge``.

Tasks (:class:`KnowledgeQA`): one question about one attribute of one entity, e.g. ``"In which
year was Varnholt founded? Search the documents and answer with the year only."``. The reference
answer is written exactly as in the document (``"18,400"``, ``"Brask River"``); the verifier
compares :func:`~embodied_rl.envs.tools.base.normalize_answer` forms, additionally ignoring a
leading ``"the "``, thousands separators in numeric answers, and the generic word (``River``,
``Mountains``...) of a place answer (``"Brask"`` is accepted for ``"Brask River"``).
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from embodied_rl.envs.tools.base import ExpertTurn, Task, TaskSource, normalize_answer
from embodied_rl.envs.tools.search import DEFAULT_CORPUS, load_corpus

__all__ = ["QUESTIONS", "KnowledgeQA", "build_corpus", "write_corpus"]

# ---- word lists (fixed; changing them changes the corpus and every task) -------------------

_PROVINCES = ["Ellira", "Mossgard", "Quenbria", "Tarvel", "Orsenne", "Halvard", "Dremmor", "Saluvia"]
_RIVER_NAMES = [
    "Brask", "Iskel", "Ombra", "Teyne", "Vollen", "Carrow", "Simber", "Lethra", "Quorra", "Dessel",
    "Anvra", "Pellow", "Runnel", "Sarvo", "Tembry", "Wexa", "Yarrow", "Zindel", "Ostra", "Gaval",
    "Hebbin", "Kellow", "Murra", "Noddel",
]  # fmt: skip
_MOUTHS = [
    "Lake Tessel", "Lake Orin", "Lake Vantar", "Lake Simmer", "Halcyon Sea", "Grey Sea",
    "Sea of Morrow", "Ashfall Bay", "Coral Gulf", "Lake Ebbet",
]  # fmt: skip
_SOURCES = [
    "Kestrel Mountains", "Harrow Hills", "Ashen Peaks", "Tallow Range", "Brindle Hills",
    "Cinder Mountains", "Frostmere Heights", "Owlcrest Range",
]  # fmt: skip
_TOWN_PREFIXES = [
    "Varn", "Ost", "Bel", "Kar", "Tal", "Mor", "Ren", "Sil", "Dun", "Hal", "Ves", "Ard", "Quel",
    "Brin", "Cor", "Fen", "Gal", "Lor", "Nim", "Pel", "Tor", "Ulm", "Wyn", "Zel",
]  # fmt: skip
_TOWN_SUFFIXES = [
    "holt", "mere", "wick", "dale", "brook", "ford", "stead", "haven", "moor", "gate", "by", "thorpe",
    "ness", "combe",
]  # fmt: skip
_EXPORTS = [
    "blue salt", "river pearls", "copper bells", "wool felt", "amber glass", "smoked eel",
    "cedar barrels", "hemp rope", "slate tiles", "honey wine", "paper lanterns", "iron nails",
    "dyed linen", "goat cheese", "clay pipes", "silver thread",
]  # fmt: skip
_FIRST_NAMES = [
    "Ilsa", "Oren", "Maelis", "Tobiah", "Seren", "Casimir", "Liora", "Anselm", "Perrin", "Odile",
    "Ruvan", "Tamsin", "Eskel", "Verity", "Halden", "Juno", "Corvin", "Nessa", "Lucan", "Briony",
    "Idris", "Sabine", "Fenwick", "Rosamund", "Dorian", "Ysolde", "Marek", "Elowen", "Thaddeus", "Wren",
]  # fmt: skip
_LAST_NAMES = [
    "Marrow", "Quillon", "Vantreck", "Ashdown", "Belcourt", "Dravik", "Eastwold", "Farrant", "Gossel",
    "Hawtrey", "Ironsby", "Jessop", "Kettleby", "Lomax", "Merridew", "Norcott", "Oakenfold", "Pyrmont",
    "Ravensworth", "Stellan", "Thorncastle", "Underhay", "Vollmer", "Whitlock", "Yelverton", "Zabrisk",
    "Corrigan", "Penhallow", "Ormsby", "Tregarth",
]  # fmt: skip
_PROFESSIONS = [
    "clockmaker", "glassblower", "cartographer", "engineer", "printer", "weaver", "chemist",
    "shipwright", "astronomer", "potter", "locksmith", "bookbinder",
]  # fmt: skip
_INVENTION_HEADS = [
    "tide", "steam", "wind", "copper", "glass", "spring", "salt", "lantern", "signal", "folding",
    "rotary", "echo",
]  # fmt: skip
_INVENTION_NOUNS = [
    "loom", "kiln", "lathe", "compass", "press", "clock", "pump", "sextant", "bellows", "abacus",
    "telegraph", "mill",
]  # fmt: skip

_N_TOWNS = 110
_N_PEOPLE = 66


@dataclass(frozen=True)
class _Entity:
    """One document's entity: its kind, name (the title) and attributes (answers as written)."""

    doc_id: str
    kind: str  # "river" | "town" | "person"
    name: str
    attrs: dict[str, str]


def _render(entity: _Entity) -> str:
    """The document text of ``entity``."""
    a, n = entity.attrs, entity.name
    if entity.kind == "river":
        mouth = a["mouth"] if a["mouth"].startswith("Lake ") else f"the {a['mouth']}"
        return (
            f"The {n} rises in the {a['source']} and flows into {mouth}. It is {a['length']} kilometres long."
        )
    if entity.kind == "town":
        return (
            f"{n} is a town in the province of {a['province']}, on the {a['river']}. "
            f"It was founded in {a['founded']}. Its population is {a['population']}. "
            f"The town's main export is {a['export']}. Its mayor is {a['mayor']}."
        )
    return (
        f"{n} was a {a['profession']} born in {a['birthplace']} in {a['born']}. "
        f"{n}'s best-known invention is the {a['invention']}. {n} died in {a['died']}."
    )


@functools.lru_cache(maxsize=1)
def _entities() -> tuple[_Entity, ...]:
    """All entities, deterministically generated (rivers, then towns, then people)."""
    rng = random.Random(0)
    rivers = [
        _Entity(
            doc_id=f"river-{i + 1:03d}",
            kind="river",
            name=f"{name} River",
            attrs={
                "source": rng.choice(_SOURCES),
                "mouth": rng.choice(_MOUTHS),
                "length": str(rng.randint(40, 980)),
            },
        )
        for i, name in enumerate(_RIVER_NAMES)
    ]
    town_names = rng.sample([p + s for p in _TOWN_PREFIXES for s in _TOWN_SUFFIXES], _N_TOWNS)
    full_names = rng.sample([f"{f} {la}" for f in _FIRST_NAMES for la in _LAST_NAMES], _N_TOWNS + _N_PEOPLE)
    mayors, inventors = full_names[:_N_TOWNS], full_names[_N_TOWNS:]
    towns = [
        _Entity(
            doc_id=f"town-{i + 1:03d}",
            kind="town",
            name=name,
            attrs={
                "province": rng.choice(_PROVINCES),
                "river": rng.choice(rivers).name,
                "founded": str(rng.randint(1320, 1890)),
                "population": f"{rng.randint(12, 960) * 100:,}",
                "export": rng.choice(_EXPORTS),
                "mayor": mayors[i],
            },
        )
        for i, name in enumerate(town_names)
    ]
    inventions = rng.sample([f"{h} {n}" for h in _INVENTION_HEADS for n in _INVENTION_NOUNS], _N_PEOPLE)
    people = []
    for i, name in enumerate(inventors):
        born = rng.randint(1610, 1880)
        people.append(
            _Entity(
                doc_id=f"person-{i + 1:03d}",
                kind="person",
                name=name,
                attrs={
                    "profession": rng.choice(_PROFESSIONS),
                    "birthplace": rng.choice(towns).name,
                    "born": str(born),
                    "invention": inventions[i],
                    "died": str(born + rng.randint(28, 91)),
                },
            )
        )
    entities = (*rivers, *towns, *people)
    names = [e.name for e in entities]
    assert len(set(names)) == len(names), "entity names must be unique"
    return entities


def build_corpus() -> list[dict[str, str]]:
    """The knowledge corpus: ``[{"id", "title", "text"}, ...]`` (200 documents, deterministic)."""
    return [{"id": e.doc_id, "title": e.name, "text": _render(e)} for e in _entities()]


def write_corpus(path: str | Path = DEFAULT_CORPUS) -> Path:
    """Writes :func:`build_corpus` as JSONL (UTF-8, one document per line) to ``path``; returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(doc, ensure_ascii=False) for doc in build_corpus()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- questions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Question:
    """One question template.

    Attributes:
        kind: The entity kind it asks about.
        template: The question; ``{name}`` is the entity name.
        keywords: Added to the entity name to form the expert's search query.
        pattern: Finds the answer in the entity's document text (group 1); ``{name}`` is the
            escaped entity name.
        numeric: Whether the answer is a number (thousands separators are ignored when verifying).
    """

    kind: str
    template: str
    keywords: str
    pattern: str
    numeric: bool = False


_TAIL = " Search the documents and answer with {what} only."
_PLACE = r"([A-Z][\w'-]*(?: (?:of )?[A-Z][\w'-]*)*)"

QUESTIONS: dict[str, _Question] = {
    "river.source": _Question(
        "river",
        "In which mountains or hills does the {name} rise?" + _TAIL.format(what="their name"),
        "rises",
        r"The {name} rises in the " + _PLACE,
    ),
    "river.mouth": _Question(
        "river",
        "Into which lake, sea, bay or gulf does the {name} flow?" + _TAIL.format(what="its name"),
        "flows",
        r"flows into (?:the )?" + _PLACE,
    ),
    "river.length": _Question(
        "river",
        "How long is the {name} in kilometres?" + _TAIL.format(what="the number"),
        "long kilometres",
        r"It is ([\d,]+) kilometres long",
        numeric=True,
    ),
    "town.province": _Question(
        "town",
        "In which province is the town of {name}?" + _TAIL.format(what="the province name"),
        "province",
        r"in the province of " + _PLACE,
    ),
    "town.river": _Question(
        "town",
        "On which river does the town of {name} lie?" + _TAIL.format(what="the river's name"),
        "river",
        r"on the " + _PLACE,
    ),
    "town.founded": _Question(
        "town",
        "In which year was {name} founded?" + _TAIL.format(what="the year"),
        "founded",
        r"It was founded in (\d+)",
        numeric=True,
    ),
    "town.population": _Question(
        "town",
        "What is the population of {name}?" + _TAIL.format(what="the number"),
        "population",
        r"Its population is ([\d,]+)",
        numeric=True,
    ),
    "town.export": _Question(
        "town",
        "What is the main export of {name}?" + _TAIL.format(what="the export"),
        "main export",
        r"main export is ([^.]+)\.",
    ),
    "town.mayor": _Question(
        "town",
        "Who is the mayor of {name}?" + _TAIL.format(what="the mayor's full name"),
        "mayor",
        r"Its mayor is ([^.]+)\.",
    ),
    "person.profession": _Question(
        "person",
        "What was the profession of {name}?" + _TAIL.format(what="the profession"),
        "profession",
        r"{name} was an? ([a-z ]+?) born in",
    ),
    "person.birthplace": _Question(
        "person",
        "In which town was {name} born?" + _TAIL.format(what="the town name"),
        "born",
        r"born in ([A-Z][\w'-]*) in \d+",
    ),
    "person.born": _Question(
        "person",
        "In which year was {name} born?" + _TAIL.format(what="the year"),
        "born year",
        r"born in [A-Z][\w'-]* in (\d+)",
        numeric=True,
    ),
    "person.died": _Question(
        "person",
        "In which year did {name} die?" + _TAIL.format(what="the year"),
        "died",
        r"died in (\d+)",
        numeric=True,
    ),
    "person.invention": _Question(
        "person",
        "What is the best-known invention of {name}?" + _TAIL.format(what="the invention's name"),
        "invention",
        r"best-known invention is (?:the )?([^.]+)\.",
    ),
}
"""``"<kind>.<attribute>"`` -> question template, expert query words and answer pattern."""

_GENERIC_WORDS = ("river", "mountains", "hills", "peaks", "range", "heights", "lake", "sea", "bay", "gulf")


def _question_regex(question: _Question) -> re.Pattern[str]:
    """Matches a question of this template; group ``name`` is the entity name."""
    before, after = question.template.split("{name}")
    return re.compile(re.escape(before) + r"(?P<name>.+?)" + re.escape(after) + r"\s*$", re.DOTALL)


_QUESTION_REGEXES = {key: _question_regex(q) for key, q in QUESTIONS.items()}


def _forms(answer: str, numeric: bool) -> set[str]:
    """The normal forms a correct answer may take (see the module docstring)."""
    text = normalize_answer(answer)
    if numeric:
        return {text.replace(",", "")}
    text = text.removeprefix("the ")
    forms = {text}
    words = text.split()
    if len(words) > 1 and words[-1] in _GENERIC_WORDS:
        forms.add(" ".join(words[:-1]))
    if len(words) > 1 and words[0] in _GENERIC_WORDS:
        forms.add(" ".join(words[1:]).removeprefix("of "))
    return forms


def _normal(text: str, numeric: bool) -> str:
    """A candidate answer's normal form, comparable with :func:`_forms`."""
    text = normalize_answer(text)
    return text.replace(",", "") if numeric else text.removeprefix("the ")


def _verifier(answer: str, numeric: bool) -> Callable[[str], float]:
    """``text -> 1.0 | 0.0``: exact match against the accepted forms of ``answer``."""
    accepted = frozenset(_forms(answer, numeric))

    def verify(text: str) -> float:
        if not isinstance(text, str):
            return 0.0
        return 1.0 if _normal(text, numeric) in accepted else 0.0

    return verify


_HIT = re.compile(r"^\[\d+\] (?P<title>.*?): (?P<text>.*)$")


class KnowledgeQA(TaskSource):
    """Questions about the fictional facts of :func:`build_corpus`, answered with the search tool.

    Args:
        corpus: The corpus the search tool will use; None for the shipped one. Questions always come
            from :func:`build_corpus`, so a custom corpus must contain every generated document
            (same id, title and text; it may add more, e.g. extra distractors) — checked here.

    Raises:
        ValueError: If a custom corpus lacks a generated document or changed one.
    """

    tools = ("search",)
    image_size = None

    def __init__(self, corpus: str | Path | None = None) -> None:
        self.corpus = Path(corpus) if corpus is not None else DEFAULT_CORPUS
        self._entities = _entities()
        if corpus is not None:
            have = {d["id"]: d for d in load_corpus(self.corpus)}
            for doc in build_corpus():
                if have.get(doc["id"]) != doc:
                    state = "lacks" if doc["id"] not in have else "changed"
                    raise ValueError(f"corpus {self.corpus} {state} the generated document {doc['id']!r}")

    def sample(self, seed: int) -> Task:
        """The task for ``seed``: a uniform entity, then a uniform attribute of its kind.

        ``meta`` holds ``doc_id``, ``attribute`` (``"town.founded"``...) and ``entity``.
        """
        rng = np.random.default_rng(seed)
        entity = self._entities[int(rng.integers(len(self._entities)))]
        keys = [k for k, q in QUESTIONS.items() if q.kind == entity.kind]
        key = keys[int(rng.integers(len(keys)))]
        question = QUESTIONS[key]
        answer = entity.attrs[key.split(".", 1)[1]]
        return Task(
            question=question.template.format(name=entity.name),
            answer=answer,
            verify=_verifier(answer, question.numeric),
            meta={"doc_id": entity.doc_id, "attribute": key, "entity": entity.name},
        )

    def expert(self, question: str, results: list[str], view: np.ndarray | None) -> ExpertTurn:
        """Searches for the entity and attribute words, then reads the answer off the hit.

        Works only from the question text and the result texts: the question is matched against
        the templates of :data:`QUESTIONS` to get the entity name; the first turn searches
        ``"<name> <keywords>"``; the next reads the answer from the hit titled with the name
        (any hit if none is), or answers ``"unknown"``.
        """
        parsed = self._parse_question(question)
        if parsed is None:
            return ExpertTurn(answer="unknown")
        key, name = parsed
        spec = QUESTIONS[key]
        if not results:
            return ExpertTurn(tool="search", arguments={"query": f"{name} {spec.keywords}"})
        pattern = re.compile(spec.pattern.replace("{name}", re.escape(name)))
        hits = [m for line in results[-1].splitlines() if (m := _HIT.match(line.strip()))]
        own = [m["text"] for m in hits if m["title"] == name]
        for text in own or [m["text"] for m in hits]:
            if found := pattern.search(text):
                return ExpertTurn(answer=found.group(1).strip())
        return ExpertTurn(answer="unknown")

    @staticmethod
    def _parse_question(question: str) -> tuple[str, str] | None:
        """``(template key, entity name)`` of a question, or None if no template matches."""
        question = question.strip()
        for key, regex in _QUESTION_REGEXES.items():
            if m := regex.match(question):
                return key, m["name"].strip()
        return None


if __name__ == "__main__":
    written = write_corpus()
    print(f"wrote {len(build_corpus())} documents to {written}")
