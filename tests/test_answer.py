"""Answers: verbatim quotes, grouping across articles, abstention, filters, and the `ask` contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.answer.group import same_quote, similarity
from assistant.answer.retrieve import Filters
from assistant.cli import cli
from assistant.config import Settings
from assistant.errors import QuestionError
from assistant.session import Assistant
from assistant.sources import add
from conftest import HashEncoder, copy_project

ANSWERABLE = [
    "How many referrals were there in 2019-20?", "Who led the review?", "What is Triple P?",
    "What did the chair compare the system to?", "How many Section 47 enquiries were there?",
    "How much did spending on non-statutory services fall?", "What did Anna Feuchtwang say?",
    "How many children were looked after in 2019-20?", "What is family help?", "Who is Charlotte Ramsden?",
    "How much money goes to Virtual School Heads?", "What is wrong with the placement market?",
    "How many people with lived experience contributed?", "What happened to knife wounds among teenagers?",
]
OFF_TOPIC = [
    "Who won the Premier League in 2020?", "What is the treatment for type 2 diabetes?",
    "What is the budget deficit of France?", "How do I bake sourdough bread?", "What is the capital of Australia?",
    "How many goals did Messi score?", "What are the side effects of ibuprofen?",
    "What is Japan's defence budget for 2024?",
]


@pytest.fixture(scope="module")
def real(real_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """The real-model index of the seeds, copied once for this module: its tests only ask questions.

    One copy rather than one per test: each copy loads the model and index again (~0.2 s, 143 MB on disk),
    for some 50 questions.
    """
    return Assistant(copy_project(real_index, tmp_path_factory.mktemp("answer") / "real"))


def file_text(assistant: Assistant, path: str) -> str:
    return (assistant.settings.root / path).read_bytes().decode("utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("question", ANSWERABLE + OFF_TOPIC + ["Jenga", "642,980", "What about teenagers and gangs?"])
def test_every_quote_and_passage_is_an_exact_slice(real: Assistant, question: str) -> None:
    answer = real.ask(question)
    assert len(answer.passages) == 5  # never vacuous: every question gets its nearest passages
    for c in answer.citations:
        assert file_text(real, c.source.path)[c.start : c.end] == c.quote
        for loc in c.also_in:
            assert loc.source.id != c.source.id and file_text(real, loc.source.path)[loc.start : loc.end]
    for r in answer.passages:
        assert file_text(real, r.hit.source.path)[r.hit.passage.start : r.hit.passage.end] == r.hit.passage.text
    assert answer.abstained == (not answer.citations)
    if not answer.abstained:
        assert all(f"[{c.n}]" in answer.text and c.quote in answer.text for c in answer.citations)


@pytest.mark.slow
@pytest.mark.parametrize("question", ANSWERABLE)
def test_answerable_questions_are_answered(real: Assistant, question: str) -> None:
    assert not real.ask(question).abstained


@pytest.mark.slow
@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_abstain_with_nearest_passages(real: Assistant, question: str) -> None:
    answer = real.ask(question)
    assert answer.abstained and answer.text.startswith("The articles do not answer this question.")
    assert not answer.citations and len(answer.passages) == 5


def test_a_question_naming_what_no_article_mentions_abstains(indexed: Assistant) -> None:
    from assistant.answer.quotes import ABSTENTION

    answer = indexed.ask("What did Ofsted and Labour say about the Jenga tower?")
    assert answer.abstained and answer.text == f"{ABSTENTION} No article mentions Ofsted or Labour."
    assert answer.passages  # the nearest passages are still listed
    for question in ("What did Josh MacAlister say about the Jenga tower?",  # named in the articles
                     "What did the DfE say about the Jenga tower?",  # acronyms are not checked
                     "Jenga tower: what did the review say?"):  # an opening word is not a name
        assert not indexed.ask(question).abstained, question


@pytest.mark.slow
def test_figures_and_terms_are_found(real: Assistant) -> None:
    assert "642,980 referrals" in real.ask("How many referrals were there in 2019-20?").citations[0].quote
    assert "Section 47" in real.ask("Section 47 enquiries", mode="bm25").passages[0].hit.passage.text
    assert "Section 47" in real.ask("Section 47 enquiries").citations[0].quote
    assert "Triple P" in real.ask("What is Triple P?").citations[0].quote


@pytest.mark.slow
def test_jenga_quote_appears_once_with_four_sources(real: Assistant) -> None:
    answer = real.ask("What did MacAlister say the system was like? Jenga held together with Sellotape")
    jenga = [c for c in answer.citations if "tower of Jenga held together with Sellotape" in c.quote]
    assert len(jenga) == 1
    sources = {jenga[0].source.id} | {loc.source.id for loc in jenga[0].also_in}
    assert len(sources) >= 4
    texts = [r.hit.passage.text for r in answer.passages]
    assert len(texts) == len(set(texts))


def test_grouping_merges_copies_but_not_different_statements() -> None:
    a = "Mr MacAlister said: 'Our children's social care system is a 30-year-old tower of Jenga held together with Sellotape: simultaneously rigid and yet shaky."
    b = "MacAlister said: “Our children’s social care system is a 30-year-old tower of Jenga held together with Sellotape: simultaneously rigid and yet shaky."
    assert similarity(a, b) >= Settings().group_threshold
    different = [
        ("There were 642,980 referrals in 2019-20 – up 7% from 2009-10",
         "There were 389,260 children in need in 2019-20 – up 4% on the previous decade"),
        ("Section 47 enquiries rose by a massive 129% to 201,000 in 2019-20",
         "Section 47 enquiries rose by a massive 120% to 201,000 in 2019-20"),
        ("The children's social care system is too focused on investigating families rather than providing them with support, according to an independent review of services.",
         "An ‘urgent’ new approach to children in social care is needed, after an independent review has found that the system is too focused on investigating families rather than providing them with support."),
        ("The review praises social workers for making complex and challenging decisions.",
         "The review criticises ministers for making slow and confused decisions."),
    ]
    for x, y in different:
        assert similarity(x, y) < Settings().group_threshold, (x, y)
    for x, y in different[:2] + different[3:]:
        assert not same_quote(x, y, Settings().group_threshold), (x, y)
    # One quotation inside two different sentences is one quote.
    assert same_quote("England’s current system has been described as a ’30-year-old tower of Jenga held together with Sellotape: simultaneously rigid and yet shaky’.",
                      "The Care Review chair has described England’s children’s social care system as “a 30-year-old tower of Jenga held together with Sellotape” as he laid out his priorities for reform.",
                      Settings().group_threshold)


def test_questions_that_are_empty_or_too_long(archive: Settings, encoder: HashEncoder) -> None:
    for bad, message in [("", "empty"), ("   \n\t", "empty"), ("x" * 2001, "keep it under 2,000")]:
        with pytest.raises(QuestionError, match=message):
            Assistant(archive, encoder).ask(bad)


def _cli(settings: Settings, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    encoder = HashEncoder()
    result = CliRunner().invoke(cli, ["--root", str(settings.root), "--model", settings.model, *args], input=stdin,
                                obj=lambda s: Assistant(s, encoder))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def indexed(archive: Settings, encoder: HashEncoder) -> Assistant:
    Assistant(archive, encoder).update()
    return Assistant(archive.replace(abstain_below=0.0), encoder)


def _check_source(src: dict, root: Path) -> None:
    assert set(src) == {"id", "path", "title", "publisher", "author", "published"}
    assert src["path"] == f"sources/{src['id']}.md" and (root / src["path"]).is_file()
    assert isinstance(src["title"], str) and all(src[k] is None or isinstance(src[k], str)
                                                   for k in ("publisher", "author", "published"))


def test_json_contract(indexed: Assistant) -> None:
    code, out, err = _cli(indexed.settings, "ask", "--json", "--k", "3", "How many referrals were there?")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"question", "abstained", "confidence", "answer", "citations", "passages"}
    assert 0.0 <= data["confidence"] <= 1.0
    assert data["question"] == "How many referrals were there?" and isinstance(data["abstained"], bool)
    assert len(data["passages"]) == 3 and [p["rank"] for p in data["passages"]] == [1, 2, 3]
    for p in data["passages"]:
        assert set(p) == {"rank", "score", "text", "start", "end", "source", "also_in"}
        _check_source(p["source"], indexed.settings.root)
        assert file_text(indexed, p["source"]["path"])[p["start"] : p["end"]] == p["text"]
    for c in data["citations"]:
        assert set(c) == {"n", "quote", "start", "end", "source", "also_in"}
        assert file_text(indexed, c["source"]["path"])[c["start"] : c["end"]] == c["quote"]
        for loc in c["also_in"]:
            assert set(loc) == {"id", "path", "start", "end"}


def test_batch_mode_reads_json_lines_from_stdin(indexed: Assistant) -> None:
    stdin = "How many referrals were there?\n\nWho led the review?\n" + "x" * 2001 + "\n"
    code, out, _ = _cli(indexed.settings, "ask", "--json", "-", stdin=stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 3
    assert rows[0]["question"] == "How many referrals were there?" and "citations" in rows[0]
    assert rows[1]["question"] == "Who led the review?"
    assert "keep it under 2,000" in rows[2]["error"]


def test_ask_errors_are_one_line(settings: Settings, indexed: Assistant) -> None:
    code, _, err = _cli(indexed.settings, "ask", "   ")
    assert code == 1 and err.strip() == "Error: the question is empty; ask something about the articles"
    code, _, err = _cli(settings.replace(root=settings.root / "elsewhere"), "ask", "Who?")
    assert code == 1 and "run `assistant index`" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(indexed.settings, "ask", "--source", "nope", "Who?")
    assert code == 1 and "no such source: nope" in err


def test_filters(indexed: Assistant) -> None:
    cyp = "care-review-lays-out-key-reforms-for-shaky-social-care"
    one = indexed.ask("What did the review find?", filters=Filters(sources=(cyp,)))
    assert one.passages and {r.hit.source.id for r in one.passages} == {cyp}
    assert {c.source.id for c in one.citations} <= {cyp}
    none = indexed.ask("What did the review find?", filters=Filters(publishers=("Nobody Weekly",)))
    assert none.abstained and not none.passages


def test_date_and_publisher_filters(tmp_path: Path, encoder: HashEncoder, seed_paths: list[Path]) -> None:
    settings = Settings(root=tmp_path, model="test-hash", abstain_below=0.0)
    add(str(seed_paths[4]), settings, publisher="CYP Now", published="2021-06-17")
    add(str(seed_paths[0]), settings)
    assistant = Assistant(settings, encoder)
    assistant.update()
    june = assistant.ask("Jenga", filters=Filters(since="2021-06-01", until="2021-06-30"))
    assert june.passages and all(r.hit.source.publisher == "CYP Now" for r in june.passages)
    assert not assistant.ask("Jenga", filters=Filters(since="2022-01-01")).passages
    cyp = assistant.ask("Jenga", filters=Filters(publishers=("cyp now",)))
    assert cyp.passages and all(r.hit.source.published == "2021-06-17" for r in cyp.passages)


def test_a_quote_that_only_introduces_a_speaker_is_quoted_with_what_they_said() -> None:
    from assistant.answer.features import Candidate
    from assistant.answer.quotes import _choose
    from assistant.types import Hit, Passage, SourceInfo

    file = ("Intro. Anna Feuchtwang, chief executive of the National Children’s Bureau, said: ‘The report makes for "
            "depressing reading.’ Ministers said, they would respond. Another sentence here.")
    spans = [(0, 6), (7, 80), (81, 123), (124, 159), (160, len(file))]
    assert [file[a:b][-1] for a, b in spans] == [".", ":", "’", ".", "."]
    source = SourceInfo("s", "sources/s.md", "S", None, None, None)
    hit = Hit(Passage("s#0", "s", file, 0, len(file), tuple(spans)), source, 1.0, 1.0)
    candidates = tuple(Candidate(hit, a, b, file[a:b], 0, i, ()) for i, (a, b) in enumerate(spans))
    # Chosen: the lead-in, the sentence after it (already inside the extended quote), then the last sentence.
    chosen = _choose(candidates, np.array([0.0, 0.9, 0.8, 0.1, 0.7]), 0.1, Settings())
    assert [c.text for c in chosen] == [file[7:123], file[160:]]
    assert all(file[c.start : c.end] == c.text for c in chosen)
    # The content sentence first: the extended lead-in takes its place instead of repeating it.
    chosen = _choose(candidates, np.array([0.0, 0.8, 0.9, 0.1, 0.7]), 0.1, Settings())
    assert [c.text for c in chosen] == [file[7:123], file[160:]]
    # A sentence that goes on after "said," is not a lead-in.
    chosen = _choose(candidates, np.array([0.0, 0.0, 0.0, 0.9, 0.0]), 0.5, Settings())
    assert [c.text for c in chosen] == [file[124:159]]


@pytest.mark.slow
def test_no_sentence_inside_an_earlier_quote_is_quoted_again(real: Assistant) -> None:
    question = "How many referrals were there in 2019-20?"
    c = real.ask(question).citations[0]
    # An earlier quote that held this sentence and more (as one extended through the next sentence does).
    wider = (c.source.path, c.start - 1, c.end + 1)
    again = real.ask(question, exclude=[wider])
    assert again.citations and c.quote not in [d.quote for d in again.citations]
    assert all(d.source.path != c.source.path or not (wider[1] <= d.start and d.end <= wider[2]) for d in again.citations)
