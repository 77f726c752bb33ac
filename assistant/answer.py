"""Answer: the chain retrieve → evidence → abstain → prompt → generate → verify → (extract).

Trust comes from the system, not the model: retrieval decides whether to abstain
(``assistant.abstain``), the prompt carries only the relevant evidence sentences
(``assistant.evidence``, ``assistant.prompt``), every answer sentence is checked against the paper
it cites (``assistant.verify``), and a cited extractive answer (``assistant.extract``) is the
fallback when none of the model's sentences survive.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from assistant.abstain import CALIBRATION_FILE, Calibration, decide, load_calibration, overrule, signals
from assistant.compose import GENERIC, adds_nothing, closest_answer, is_fragment, list_answer, tidy
from assistant.errors import InputError, PapersError, redact
from assistant.evidence import Evidence, answer_papers, lists_papers, named_papers, select_evidence
from assistant.extract import extract
from assistant.generation import Generation
from assistant.language import to_english
from assistant.llm import get_model
from assistant.prompt import EXPAND_PROMPT, build_messages
from assistant.query import Query, authored, newest_first, read_question, with_date_note
from assistant.result import Answer, Retrieved, read_answer, render
from assistant.retrieve import Retriever, Source
from assistant.settings import MAX_K
from assistant.spelling import corrections
from assistant.storage import file_stamp
from assistant.store import PaperIndex
from assistant.support import make_scorer
from assistant.text import clean_question
from assistant.verify import AnswerSentence, check, evidence_text, split_answer

__all__ = ["ABSTAIN_TEXT", "Answer", "AnswerChain", "AnswerSentence", "Retrieved", "render"]

if TYPE_CHECKING:
    from assistant.settings import Settings

ABSTAIN_TEXT = (
    "The collection does not cover this question: no indexed paper is close enough to it, so there is nothing to cite."
)
NO_AUTHORS = (  # (the reason, the answer) for "papers by X" in a collection without author data
    "the question asks for an author's papers, and this collection carries no author information",
    "The collection cannot answer this: it carries no author information, so no paper can be found by its authors.",
)


OnText = Callable[[str], None]


class AnswerChain:
    """Build once per process (it holds the index, encoder and scorer) and call ``answer``.

    A long-lived chain follows the index: before each question it checks (one ``stat``) whether an
    ``ingest`` committed a new generation or a new calibration, and moves to it. A question already
    running finishes on the generation it started with; the writer keeps the previous generation's
    files until its next commit (``IndexWriter.tidy``), and if a reader was two commits behind, the
    question is retried once on the newest one.
    """

    def __init__(self, settings: Settings, retriever: Retriever | None = None) -> None:
        self.settings = settings
        first = retriever or Retriever(settings)
        self.scorer = make_scorer(first.encoder, settings.answer)
        self._lock = threading.Lock()
        self._generation = self._load(first)

    def _load(self, retriever: Retriever) -> Generation:
        root = retriever.index.root
        stamp = file_stamp(root / CALIBRATION_FILE)
        # calibration off: the built-in default decision, whatever an earlier ingest stored
        calibration = load_calibration(root) if self.settings.abstention.calibrate else None
        return Generation(retriever, calibration, stamp)

    def refresh(self, *, force: bool = False) -> bool:
        """Move to the newest committed generation (and calibration) if an ingest wrote one since
        this chain looked; True when it moved. Raises an IndexError_ if the new manifest is damaged."""
        with self._lock:
            current = self._generation
            index = current.retriever.index
            manifest_changed = force or index.changed()
            if not manifest_changed and file_stamp(index.root / CALIBRATION_FILE) == current.calibration_stamp:
                return False
            retriever = current.retriever
            if manifest_changed:
                fresh = PaperIndex.open(self.settings.at(index.root))
                retriever = Retriever(self.settings, fresh, current.retriever.encoder)
            self._generation = self._load(retriever)
            if retriever is not current.retriever:
                current.retired = True
                current.release()
            return True

    @contextlib.contextmanager
    def _using(self) -> Iterator[Generation]:
        """The current generation, held for one question (it is not closed while in use)."""
        self.refresh()
        with self._lock:
            generation = self._generation
            generation.users += 1
        try:
            yield generation
        finally:
            with self._lock:
                generation.users -= 1
                generation.release()

    @property
    def retriever(self) -> Retriever:
        """The retriever over the newest committed generation of the index."""
        self.refresh()
        return self._generation.retriever

    @property
    def calibration(self) -> Calibration | None:
        """The abstention calibration stored with the current generation (None: the built-in default)."""
        self.refresh()
        return self._generation.calibration

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        dates: list[str] | None = None,
        evidence: bool = True,
        exclude: Collection[str] = (),
        model: str | None = None,
        expansion: str | None = None,
    ) -> Retrieved:
        """Search, select evidence and decide abstention; ``evidence=False`` stops after ranking.
        ``exclude``: papers treated as absent (leave-out benchmarks: a question about a missing paper).
        Raises EmptyQuestion, InputError (k out of range), UnsupportedLanguage, IndexError_."""
        for attempt in (1, 2):
            with self._using() as generation:
                try:
                    return self._retrieve(generation, question, k, dates, evidence, exclude, model, expansion)
                except Exception:
                    # files of a generation two commits old are gone: retry once on the newest
                    if attempt == 2 or not generation.retriever.index.changed():
                        raise
            self.refresh(force=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrieve(
        self,
        generation: Generation,
        question: str,
        k: int | None,
        dates: list[str] | None,
        evidence: bool,
        exclude: Collection[str],
        model: str | None,
        expansion: str | None = None,
    ) -> Retrieved:
        """read → search → evidence → decide, one stage after another (``expansion``: terms added to
        the search, not to what the coverage signals read)."""
        started = time.perf_counter()
        retriever = generation.retriever
        index = retriever.index
        if k is not None and not 1 <= k <= MAX_K:
            raise InputError(f"k (papers to retrieve) must be between 1 and {MAX_K}, not {k}")
        explicit = k is not None
        k = k or self.settings.retrieval.k
        query = self.read(generation, question, dates, model)
        if expansion:
            # searched with the terms, but the coverage signals still read the question's own words:
            # the model's terms would otherwise lend a near miss the words of the paper it lacks
            query = replace(query, search=f"{query.search} {expansion}")
        only = None
        no_authors = bool(query.authors) and not generation.has_authors()
        if no_authors:
            note = "This collection carries no author information: the question was searched by its topic alone."
            query = replace(query, authors=(), notes=(*query.notes, note))
        elif query.authors:
            only = authored(index, query.authors, generation.authors)
            if not only:
                note = f"No indexed paper lists {' or '.join(query.authors)} as an author."
                query = replace(query, notes=(*query.notes, note))
        # the coverage signals read the top 3 papers whatever k is shown; a list reads more, a count more still
        # (a k the caller gave is what is shown, list or not)
        wanted = max(k, 3, 0 if explicit else 20 if query.has("count") else 10 if query.has("list") else 0)
        retrieval = retriever.search(query.search, k=wanted, dates=query.dates, exclude=exclude, only=only)
        named = [pid for name in query.names for pid in generation.names().get(name, ())]
        if named and only is None:
            # a paper the question names by its short name ("PaSS") comes first, whatever a word
            # sharing its letters ("pass rate") does to the ranking
            first = retriever.search(query.search, k=len(named), dates=query.dates, exclude=exclude, only=named)
            retrieval.sources = _renumber(first.sources + [s for s in retrieval.sources if s.paper_id not in named])
        found = signals(query.core, retrieval, index, exclude=exclude) if retrieval.sources else None
        if query.recency == "newest" and retrieval.sources:  # after the signals: they read the best matches
            retrieval.sources = newest_first(retrieval.sources)
            newest = next((s.date for s in retrieval.sources if s.date), None)
            shown = f" (the newest is dated {newest})" if newest else " (no retrieved paper carries a date)"
            note = f'"Latest" was read as: the relevant papers, newest first{shown}.'
            query = replace(query, notes=(*query.notes, note))
        if not evidence:
            retrieval.sources = retrieval.sources[:k]
            return Retrieved(retrieval, [], None, query)
        retrieval.sources = retrieval.sources[: max(k, wanted) if query.has("list") and not explicit else k]
        chosen: list[Evidence] = []
        if retrieval.sources:
            stored = index.sentence_vectors([s.paper_id for s in retrieval.sources])
            chosen = select_evidence(
                query.english,
                retrieval.sources,
                retriever.encoder,
                self.settings.answer.evidence_per_paper,
                stored,
                retrieval.query_vector,
            )
        cfg = self.settings.abstention
        decision = decide(found, generation.calibration, cfg.target_refused, cfg.target_none)
        decision = overrule(decision, query, chosen, only)
        if no_authors and not set(query.topic_words) - GENERIC:  # "papers by X", and no paper has authors
            decision = replace(decision, coverage="none", reason=NO_AUTHORS[0], text=NO_AUTHORS[1])
        retrieval.timings["retrieve_ms"] = round((time.perf_counter() - started) * 1000, 1)
        matching = _holding(index, query) if query.has("count") else None
        return Retrieved(retrieval, chosen, decision, query, matching)

    def read(self, generation: Generation, question: str, dates: list[str] | None, model: str | None) -> Query:
        """The question read once (``assistant.query``): cleaned, translated when not English, its
        dates resolved against this collection, its abbreviations expanded with this collection's."""
        asked, _ = clean_question(question)  # EmptyQuestion when nothing is left
        english, index = to_english(asked, self.settings, model), generation.retriever.index  # UnsupportedLanguage
        query = read_question(
            question,
            english=english,
            dates=dates,
            abbreviations=generation.abbreviations() if self.settings.retrieval.abbreviations else None,
            collection_days=generation.days,
            spelling=partial(corrections, chunks_with=index.chunks_with, writes=index.writes),
        )
        if english:
            query = replace(query, notes=(f'Translated to English for retrieval: "{english}".', *query.notes))
        return with_date_note(query, index)

    def answer(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        model: str | None = None,
        dates: list[str] | None = None,
        on_text: OnText | None = None,
    ) -> Answer:
        """The checked answer; ``on_text`` receives each verified piece of text as it is accepted."""

        def shown(piece: str) -> None:
            if piece and on_text is not None:  # "" is a token the model wrote: nothing to show
                on_text(piece)

        return read_answer(self.stream(question, k=k, mode=mode, model=model, dates=dates), shown)

    def stream(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        model: str | None = None,
        dates: list[str] | None = None,
    ) -> Iterator[str | Answer]:
        """The answer as a generator: verified text pieces as they are accepted, then the ``Answer``.

        While the model generates, an empty string is yielded for every token: a consumer may stop
        there. Closing the generator (a UI's Stop, a client gone) closes the LLM stream at once,
        which is what tells the server to stop generating.
        """
        mode = mode or self.settings.answer.mode
        model = model or self.settings.llm.model
        retrieved = self.retrieve(question, k=k, dates=dates, model=model)
        if retrieved.coverage == "closest" and mode != "extract" and self.settings.retrieval.expand:
            retrieved = self._expanded(retrieved, question, k, dates, model)
        query = retrieved.query
        assert query is not None and retrieved.decision is not None
        result = Answer(query.asked, "", retrieved.sources, [], False, mode, model, dict(retrieved.timings))
        result.decision, result.dates, result.note = retrieved.decision, query.dates, query.note
        result.translation, result.intent = query.translation, query.intent
        result.coverage = retrieved.decision.coverage
        evidence = retrieved.evidence
        if result.coverage == "none" or not evidence:
            text = retrieved.decision.text or ABSTAIN_TEXT
            result.abstained, result.answer, result.coverage = True, text, "none"
            yield text
            yield result
            return
        result.diagnostics["relevance"] = round(retrieved.relevance, 3)
        result.evidence = {ev.source.n: ev.sentences for ev in evidence}
        if result.coverage == "closest":
            result.abstained = True
            yield closest_answer(result, query, evidence, self.scorer)
            yield result
            return
        if mode != "generate" and (query.has("list") or query.has("author") or query.has("negation")):
            yield list_answer(result, query, evidence, self.scorer, retrieved.matching)
            yield result
            return
        if mode != "extract":
            try:
                yield from self._generate(result, query.english, evidence, query.has("comparison"))
            except PapersError as exc:  # provider failure, timeout, or a model that cannot be loaded
                result.error = redact(str(exc))
                if mode != "auto":
                    yield result
                    return
                # auto still answers (extractively) but the error is kept: the CLI exits non-zero
                result.sentences, result.mode = [], "auto:extract"
            if not result.sentences and not result.error:  # never a silent empty answer
                dropped = "No sentence of the model's answer survived the citation and support checks"
                tail = "." if mode != "auto" else "; the answer is the cited evidence itself."
                result.note = " ".join(x for x in (result.note, dropped + tail) if x)
            if result.mode != "auto:extract" and (mode != "auto" or result.sentences):
                yield result
                return
            if not result.error:
                result.diagnostics["fallback"] = True
                result.mode = "auto:extract"
        yield self._extract(result, query.english, evidence, query.has("comparison"))
        yield result

    def _expanded(
        self, first: Retrieved, question: str, k: int | None, dates: list[str] | None, model: str
    ) -> Retrieved:
        """Query expansion when coverage is uncertain: the model writes the terms an answering abstract
        would use (in the manner of HyDE, Gao et al. 2023, as keywords), and the search runs again with
        them. The second retrieval is kept when its decision is no less sure; a model failure keeps the
        first (it is noted in ``timings['expand_ms']`` only)."""
        started = time.perf_counter()
        messages = [
            {"role": "system", "content": EXPAND_PROMPT},
            {"role": "user", "content": first.query.english if first.query else question},
        ]
        try:
            terms = get_model(model, self.settings).complete(messages, max_tokens=self.settings.retrieval.expand_tokens)
        except PapersError:
            return first
        terms = " ".join(re.sub(r"[^\w\s,\-]", " ", terms).split())[:300]
        if not terms:
            return first
        second = self.retrieve(question, k=k, dates=dates, model=model, expansion=terms)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        better = second if second.relevance >= first.relevance else first
        better.timings["expand_ms"] = elapsed
        return better

    # -- generating and extracting ---------------------------------------------------------------

    def _generate(self, result: Answer, question: str, evidence: list[Evidence], comparing: bool) -> Iterator[str]:
        prompt_evidence = answer_papers(question, evidence, self.settings.answer.prompt_papers, comparing=comparing)
        texts = {ev.source.n: evidence_text(ev.source.title, ev.source.abstract) for ev in evidence}
        titles = [ev.source.title for ev in evidence]
        named = {ev.source.n: ev.source.title for ev in evidence}
        messages = build_messages(question, prompt_evidence)
        started = time.perf_counter()
        buffer, emitted, accepted, pieces = "", 0, [], 0
        keep_flagged = result.mode == "generate"
        # the stream is closed however this block ends (the consumer closing this generator included),
        # which is what tells the server to stop generating
        with get_model(result.model, self.settings).stream(messages) as deltas:
            for delta in deltas:
                if deltas.restarted:  # all before was the model's reasoning (a </think> it never opened)
                    buffer, emitted, accepted, pieces = "", 0, [], 0
                if "first_token_ms" not in result.timings:
                    result.timings["first_token_ms"] = round((time.perf_counter() - started) * 1000, 1)
                buffer += delta
                yield ""  # a point where the consumer may stop us
                # check only when a sentence boundary appears, not on every token: scoring encodes the
                # unfinished last sentence, and that CPU is taken from the model generating next to us
                count = len(split_answer(buffer))
                if count == pieces:
                    continue
                pieces = count
                checked = check(buffer, texts, self.scorer, self.scorer.threshold, titles).sentences
                for sentence in checked[emitted : max(len(checked) - 1, 0)]:  # the last may be unfinished
                    emitted += 1
                    if self._supported(sentence, keep_flagged, question, named):
                        accepted.append(sentence)
                        yield render(sentence) + " "
        buffer = deltas.settle(buffer)  # a reply cut at max_tokens loses its unfinished last sentence
        result.note = " ".join(x for x in (result.note, *deltas.notes) if x)
        final = check(buffer, texts, self.scorer, self.scorer.threshold, titles)
        for sentence in final.sentences[emitted:]:
            if self._supported(sentence, keep_flagged, question, named):
                accepted.append(sentence)
                yield render(sentence) + " "
        result.removed_citations = sorted(set(final.removed_citations))
        result.sentences = accepted
        result.answer = " ".join(render(s) for s in accepted)
        result.timings["generate_ms"] = round((time.perf_counter() - started) * 1000, 1)
        result.diagnostics["raw_answer_chars"] = len(buffer)

    def _supported(
        self, sentence: AnswerSentence, keep_flagged: bool, question: str = "", titles: dict[int, str] | None = None
    ) -> bool:
        """Shown when it is a sentence that answers (markup and glued titles removed; not a fragment,
        not a restatement of the question) and cites a paper that backs it; ``generate`` mode also
        shows flagged ones (a restatement among them, flagged as such)."""
        titles = titles or {}
        sentence.text = tidy(sentence.text, list(titles.values()))
        cited = " ".join(titles.get(n, "") for n in sentence.citations)
        if is_fragment(sentence.text):
            return False
        if question and adds_nothing(sentence.text, question, cited):  # shown, flagged, in generate mode only
            sentence.flagged, sentence.note = True, sentence.note or "restates the question"
            return keep_flagged
        return keep_flagged or (bool(sentence.citations) and sentence.support >= self.scorer.threshold)

    def _extract(self, result: Answer, question: str, evidence: list[Evidence], comparing: bool) -> str:
        """The evidence sentences themselves, joined into prose, each with its citation: one per
        paper for a "which papers" question or one naming several papers, else two from the first."""
        papers = answer_papers(question, evidence, self.settings.answer.prompt_papers, comparing=comparing)
        one_each = lists_papers(question) or len(named_papers(question, evidence)) > 1
        sentences = extract(papers, self.scorer, per_paper=1 if one_each else None)
        result.sentences = sentences
        result.answer = " ".join(render(s) for s in sentences)
        if result.mode == "auto":
            result.mode = "extract"
        return result.answer


def _renumber(sources: list[Source]) -> list[Source]:
    return [replace(s, n=i) for i, s in enumerate(sources, start=1)]


def _holding(index: PaperIndex, query: Query) -> int | None:
    """How many papers of the collection (within the date filter) hold every topic word of a "how many
    papers" question in their title or abstract: the count, not how many were retrieved. None when the
    question has no topic word beyond the generic ones."""
    from assistant.compose import GENERIC
    from assistant.text import content_words

    words = set(query.topic_words) - GENERIC
    if not words:
        return None
    allowed = index.papers_dated(query.dates) if query.dates else None
    return sum(
        1
        for pid, entry in index.manifest.papers.items()
        if (allowed is None or pid in allowed) and words <= set(content_words(f"{entry.title} {entry.abstract}"))
    )
