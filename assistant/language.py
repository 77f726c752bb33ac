"""Query language: retrieval, the support check and the abstention signals are English-only
(MiniLM, the BM25 stemmer), so a question in another language is translated to English first, by
the configured model, and the translation is shown. With no model that can translate, the user is
told that only English questions are supported, never that the collection does not cover them.

Detection is a heuristic, no model: a question is taken as non-English when four or more of its
letters are outside the Latin script (Chinese, Arabic, Cyrillic, …) or when its function words are mostly
German, French, Spanish, Italian, Portuguese, Dutch or Polish ones (lists below) rather than
English ones. A language it misses gets the abstention reason naming the words the collection
does not contain.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from assistant.errors import PapersError, UnsupportedLanguage

if TYPE_CHECKING:
    from assistant.settings import Settings

_FOREIGN_FUNCTION_WORDS = frozenset(
    str.split(
        # German
        "der die das und ist nicht wie was welche welcher welches für mit von zu den dem ein eine einer "
        "wird werden sind auf auch oder aber bei durch über können kann gibt es warum mir ich wir sich wenn dass "
        # French
        "le la les des est et pour que qui dans une un du au aux sont avec comment quelle quelles quels "
        "quel sur ce cette ces peut-on pourquoi "
        # Spanish
        "el los las es y para qué cómo con una del al son por cuál cuáles se puede sobre "
        # Italian, Portuguese
        "il lo gli di che è per con come perché quali quale sono della delle degli nel nella "
        "o os da do das dos em no na não como são qual quais uma um "
        # Dutch, Polish
        "de het een en van hoe wat welke zijn niet voor met ook "
        "jak co czy jest są nie na w z do dla oraz które który"
    )
)
_ENGLISH_FUNCTION_WORDS = frozenset(
    str.split(
        "the a an of and is are was were what which how why who does do can could for with to in on by "
        "from that this these there any some it its their be been has have"
    )
)
_WORD = re.compile(r"\w+(?:-\w+)*", re.UNICODE)


def is_english(question: str) -> bool:
    """False when the question reads as another language (see the module docstring): four or more
    letters outside the Latin script (a Greek β or two is fine) or two Chinese, Japanese or Korean
    characters, or more listed foreign function
    words than English ones, two at least or one in a question with no English function word.
    Only foreign words of three letters or more count ("et al", "CO2", "SE(3)", "CE loss" stay
    English); tokens are whole alphanumeric words, so "o1" is not "o"."""
    letters = [c for c in question if c.isalpha()]
    if not letters:
        return True
    names = [unicodedata.name(c, "") for c in letters]
    other = sum("LATIN" not in n for n in names)
    ideographs = sum(n.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for n in names)  # a word each
    if other >= 4 or other > len(letters) / 3 or ideographs >= 2:
        return False
    words = [w.lower() for w in _WORD.findall(question)]
    foreign = sum(len(w) >= 3 and w in _FOREIGN_FUNCTION_WORDS and w not in _ENGLISH_FUNCTION_WORDS for w in words)
    # a word of both lists ("was", "do") tells neither: "Was ist spekulatives Dekodieren?" is German; "a" is
    # Portuguese too
    english = sum(w in _ENGLISH_FUNCTION_WORDS and w not in _FOREIGN_FUNCTION_WORDS and w != "a" for w in words)
    return not (foreign > english and (foreign >= 2 or english == 0))


TRANSLATE_PROMPT = (
    "Translate the user's question about research papers into English. Keep names, acronyms and "
    "technical terms as they are. Reply with the English question only, one line."
)


def to_english(question: str, settings: Settings, model: str | None = None) -> str | None:
    """The English question, or None when it already is English. Raises UnsupportedLanguage when
    it is not and the model cannot translate it (no model, a provider failure, an empty reply)."""
    if is_english(question):
        return None
    from assistant.llm import get_model

    name = model or settings.llm.model
    messages = [{"role": "system", "content": TRANSLATE_PROMPT}, {"role": "user", "content": question}]
    raw, english = "", ""
    for _attempt in range(2):  # a small model sometimes answers the question instead: asked once more
        try:
            raw = get_model(name, settings).complete(messages, max_tokens=96)
        except PapersError as exc:
            raise UnsupportedLanguage(
                f"only English questions are supported, and the model {name} could not translate this one ({exc})"
            ) from exc
        lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
        english = lines[0].strip(" \"'`") if lines else ""
        english = re.sub(r"^(?:english(?: question)?|translation)\s*:\s*", "", english, flags=re.I)
        if english.casefold().strip(" ?.!") == question.casefold().strip(" ?.!"):
            return None  # the model kept it: it was English that looked foreign ("De novo design?")
        if english and is_english(english) and _translates(question, english):
            return english
        messages = [*messages[:1], {"role": "user", "content": f"{RETRY_PROMPT}\n\n{question}"}]
    raise UnsupportedLanguage(
        f"only English questions are supported, and the model {name} gave no usable translation ({raw[:80]!r}): "
        "ask in English"
    )


RETRY_PROMPT = (
    "Translate this question into English. Do not answer it. Keep its acronyms. Reply with the question only."
)


def _translates(question: str, english: str) -> bool:
    """Could ``english`` be a translation of ``question``, not an answer to it? A question stays a
    question ("?"), and its acronyms and figures ("LLM", "GPT-4", "2024") survive translation."""
    if "?" in question and not english.rstrip().endswith("?"):
        return False
    kept = re.findall(r"\b(?:[A-Z]{2,}\w*|\w*\d\w*)\b", question)
    return all(token.casefold() in english.casefold() for token in kept)
