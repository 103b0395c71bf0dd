"""Cleaning: boilerplate never survives, article text always does."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.index.clean import clean, is_boilerplate

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "---\ntitle: T\n---\n"

# Boilerplate of every kind the seeds carry; none of it may be kept.
SEED_BOILERPLATE = [
    "Notify of", "Inline Feedbacks", "View all comments", "Help us break the news", "Back to top",
    "Leave a Comment", "Your email address will not be published", "Akismet", "Scroll to Top",
    "CHILDREN'S SERVICES", "By Ann McGauran", "NCASC: Risk of spreading", "spread too thinly",
    "Popular articles", "Building balance", "Photo Credit", "five children sitting on bench",
    "Picture: Adobe Stock", "CYP Now Digital membership", "Latest digital issues", "From £15",
    "From £12", "Subscribe", "Tel: 01206", "CO4 3ZL", "Mackman", "Fiona Simpson\nThursday",
    "email the review team at", "Case For Change\n",
]
# Article text that must be kept, including figures, list items and quote lead-ins.
SEED_CONTENT = [
    "There were 642,980 referrals in 2019-20", "Section 47 enquiries rose by a massive 129%",
    "Triple P programmes", "tower of Jenga held together with Sellotape", "He said,", "It says:",
    "Charlotte Ramsden, president of the Association of Directors of Children’s Services, said:",
    "‘It is unacceptable that so many children and families are being let down",
    "Reducing the risk of abuse and neglect", "This will be open until 13th August.",
    "information sharing problems remain across agencies",
    "The aim of Family Help should be to improve children’s lives",  # a quote ending ",’"
]


def kept_text(body: str, title: str | None = None) -> tuple[str, list[str]]:
    text = HEADER + body
    blocks = clean(text, len(HEADER), title)
    return text, [text[b.start : b.end] for b in blocks]


@pytest.fixture
def seed_blocks(seed_paths: list[Path]) -> list[str]:
    out: list[str] = []
    for path in seed_paths:
        body = path.read_text(encoding="utf-8")
        out += kept_text(body, body.splitlines()[0])[1]
    return out


@pytest.mark.parametrize("phrase", SEED_BOILERPLATE)
def test_seed_boilerplate_is_dropped(seed_blocks: list[str], phrase: str) -> None:
    assert not [b for b in seed_blocks if phrase in b]


@pytest.mark.parametrize("phrase", SEED_CONTENT)
def test_seed_content_is_kept(seed_blocks: list[str], phrase: str) -> None:
    assert [b for b in seed_blocks if phrase in b]


def test_title_and_repeated_paragraphs_are_dropped(seed_paths: list[Path]) -> None:
    body = seed_paths[2].read_text(encoding="utf-8")
    _, blocks = kept_text(body, "Children's social care a 'Jenga held together with Sellotape,' says damning review")
    lead = "The children's social care system is too focused on investigating families"
    assert sum(b.startswith(lead) for b in blocks) == 1
    assert not any("says damning review" in b for b in blocks)


def test_blocks_are_stripped_ordered_and_never_start_with_a_bullet(seed_paths: list[Path]) -> None:
    for path in seed_paths:
        text, _ = kept_text(path.read_text(encoding="utf-8"))
        blocks = clean(text, len(HEADER))
        for a, b in zip(blocks, blocks[1:]):
            assert a.end <= b.start and a.region <= b.region
        for b in blocks:
            span = text[b.start : b.end]
            assert span == span.strip() and span[0] not in "•-*–"


def test_region_changes_where_text_was_dropped() -> None:
    body = "First paragraph is here. It is prose.\n\nSecond one follows it. Also prose.\n\nADVERTISEMENT\n\nThird comes after the advert. Prose again.\n"
    text, _ = kept_text(body)
    assert [b.region for b in clean(text, len(HEADER))] == [0, 0, 1]


def test_other_site_blog_boilerplate() -> None:
    _, blocks = kept_text((FIXTURES / "other_site_blog.txt").read_text(encoding="utf-8"),
                          "Town council votes to expand school breakfast clubs")
    joined = "\n".join(blocks)
    for phrase in ["Home »", "Posted on", "Share this", "Loading...", "Related posts", "Hill Street",
                   "thoughts on", "Add a comment", "newsletter", "cookies", "Copyright", "Facebook"]:
        assert phrase not in joined, phrase
    assert blocks == [
        "The town council voted on Thursday to fund breakfast clubs in every primary school from September.",
        "\"Hungry children cannot learn,\" said councillor Priya Shah. \"This is the cheapest way we have to raise attainment.\"",
        "The scheme will cost £1.2 million a year, according to the council's budget papers.",
    ]


def test_other_site_news_boilerplate_and_list() -> None:
    _, blocks = kept_text((FIXTURES / "other_site_news.txt").read_text(encoding="utf-8"))
    joined = "\n".join(blocks)
    for phrase in ["POLITICS", "Photo:", "Subscribe", "MORE FROM", "By Dana Writer", "housing bill",
                   "(555)", "Springfield"]:
        assert phrase not in joined, phrase
    assert "Families earning under $60,000 get the full credit" in blocks
    assert "The credit phases out above $120,000" in blocks
    assert "\"This puts money back in the pockets of working parents,\" she said." in blocks


def test_long_paragraph_using_a_chrome_word_is_kept() -> None:
    para = ("Decision-making and risk assessment are too often underpinned by a lack of knowledge while "
            "information sharing problems remain across agencies despite decades of reviews calling for greater "
            "sharing, and families say they want to share their views and comment on the plans.")
    assert not is_boilerplate(para)
    assert is_boilerplate("Share your views and comment below.")


@pytest.mark.parametrize("line", [
    "Read more", "Sign up to our newsletter.", "© 2024 Example Media.", "From $9.99/mo.", "Call 0161 496 0000.",
    "By Jo Bloggs | 3 May 2024", "Councils are struggling to recruit social workers as...",
    "Mayor opens bridge", "A child plays in a park. Photo: Sam Lens",
])
def test_general_boilerplate_lines(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize("line", [
    "The council said it would act.", "She said:", "He said,", "“We are failing these children,” said the report.",
    "Costs rose by 12% in 2019-20.", "Is this the end?",
])
def test_prose_lines_are_kept(line: str) -> None:
    assert not is_boilerplate(line)
