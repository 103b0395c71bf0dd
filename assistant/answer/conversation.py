"""Follow-up questions: what to search for when a question leans on the one before it.

The rule: a question of at most ``FOLLOW_UP_WORDS`` words is a follow-up when it
opens with a connective ("and …", "what about …") or refers back with a pronoun
("those", "she", "it") and names at most ``OWN_TERMS`` content words of its own.
A follow-up is searched for together with the question it follows (itself
possibly a follow-up, so "and in 2020?" after "and how many became plans?" still
carries the first question). Any other question stands alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FOLLOW_UP_WORDS = 12
OWN_TERMS = 3
MAX_CONTEXT_CHARS = 600

_CONNECTIVES = ("and", "but", "or", "so", "also", "then", "what about", "how about", "and what about")
# "that", "this" and "there" are left out: they open too many questions that stand alone
# ("Who said that …", "Were there …").
_BACK_REFERENCES = {"those", "these", "they", "them", "their", "theirs", "it", "its", "he", "she", "him", "his",
                    "her", "hers"}
_FUNCTION_WORDS = {
    "a", "an", "the", "and", "but", "or", "so", "also", "of", "in", "on", "at", "to", "for", "from", "by", "with",
    "about", "as", "into", "than", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many",
    "much", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "has", "have", "had", "will",
    "would", "could", "should", "can", "may", "might", "say", "says", "said", "tell", "me", "us", "any", "more",
    "else", "now", "not", "no", "yes", "all", "some", "up", "out", "like", "became", "become", "get", "got",
}
_WORD = re.compile(r"[\w'’-]+")


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on the previous one (see the module docstring for the rule)."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words or len(words) > FOLLOW_UP_WORDS:
        return False
    text = " ".join(words)
    opens = any(text == c or text.startswith(c + " ") for c in _CONNECTIVES)
    refers = any(w in _BACK_REFERENCES for w in words)
    own = [w for w in words if w not in _FUNCTION_WORDS and w not in _BACK_REFERENCES and len(w) > 2]
    return (opens or refers) and len(own) <= OWN_TERMS


def search_text(question: str, earlier: Iterable[str]) -> str:
    """What to retrieve for ``question``, given the user's earlier questions (oldest first).

    Args:
        question: The new question.
        earlier: The questions asked before it in this conversation.

    Returns:
        ``question`` itself, or, for a follow-up, the search text of the question
        before it followed by ``question`` (its oldest part cut to keep the context
        under ``MAX_CONTEXT_CHARS``).
    """
    context = ""
    for previous in earlier:
        context = _joined(context, previous) if context and is_follow_up(previous) else previous.strip()
    if not context or not is_follow_up(question):
        return question.strip()
    return _joined(context, question)


def _joined(context: str, question: str) -> str:
    context = context.strip()
    if len(context) > MAX_CONTEXT_CHARS:
        context = context[-MAX_CONTEXT_CHARS:].split(" ", 1)[-1]
    return f"{context} {question.strip()}"
