"""Exports: one ``Answer`` as text, Markdown, JSON, BibTeX or an answer bundle to audit later.

``ask --format FORMAT`` prints these and the UI's Export control offers Markdown and BibTeX
downloads of the last answer. Every format is a pure function of the answer and, for what the
answer does not carry, the index it ran on (``PaperIndex``: the cited papers' full records, the
generation, the catalog file) and the support threshold (``SupportScorer.threshold``).

- ``text``: what ``ask`` prints, unstreamed (``assistant.render.answer_terminal``): the answer, its
  note, its flagged sentences, the cited papers; the error line first.
- ``markdown``: a document: the question as a heading, the answer, a table of per-sentence support
  (score and verdict), the references (title, date, arXiv id / DOI, link); paper and model text is
  escaped. The chat's Markdown is ``assistant.render.answer_markdown``; this one is a file, escaped
  to stay readable as written, and takes what it shows (state, verdicts, reason) from ``assistant.render``.
- ``json``: exactly what ``ask --json`` prints (``assistant.render.to_json``).
- ``bibtex``: one ``@misc`` per cited paper (``assistant.bibtex``).
- ``bundle``: JSON (:func:`bundle`) naming the index generation and the sha256 of its catalog file
  (``papers.sqlite``) and of each retrieved paper's record, the embedding model and chunking, the
  settings (secrets redacted), the retrieved ids with their scores, each sentence's verdict and the
  coverage decision: enough to say later what the answer was read from and how it was judged.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.dates import shown_date
from assistant.errors import redact
from assistant.render import NO_SURVIVOR, answer_terminal, model_wrote, state, to_json, verdict, why

if TYPE_CHECKING:
    from assistant.catalog import PaperEntry
    from assistant.result import Answer
    from assistant.settings import Settings
    from assistant.store import PaperIndex

__all__ = ["BUNDLE_VERSION", "FORMATS", "bundle", "cited_papers", "export", "to_markdown", "verdict"]

FORMATS = ("text", "markdown", "json", "bibtex", "bundle")
BUNDLE_VERSION = 1


def cited_papers(answer: Answer, index: PaperIndex | None = None) -> dict[str, PaperEntry]:
    """paper id -> record of each cited paper, in citation order: the index's record when it has
    one (authors, arXiv id, DOI), else one built from the answer's source (title, date, url)."""
    from assistant.catalog import PaperEntry

    by_n = {s.n: s for s in answer.sources}
    ids = [c["paper_id"] for c in answer.citations]
    found = index.manifest.papers.get_many(ids) if index is not None and ids else {}
    out: dict[str, PaperEntry] = {}
    for c in answer.citations:
        pid = c["paper_id"]
        source = by_n[c["n"]]
        out[pid] = found.get(pid) or PaperEntry(
            title=source.title, abstract=source.abstract, hash="", chunk_ids=[], date=source.date, url=source.url
        )
    return out


# -- the Markdown document ----------------------------------------------------------------------


_MD_SPECIAL = frozenset("\\`*_[]<>|~$&!#")


_MD_BLOCK_START = re.compile(r"^(\s*)([-+=]|\d{1,9}(?=[.)]))")


def md(text: object) -> str:
    """Text as inert Markdown on one line: the characters that start emphasis, code, links, images,
    HTML, tables, math or headings backslash-escaped (CommonMark allows it for any punctuation)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in " ".join(str(text).split()))


def md_line(text: object) -> str:
    """:func:`md` for text that starts a line: a leading list marker, ordered-list number or setext
    underline ("- x", "1. x", "= x") is escaped too."""
    out = md(text)
    match = _MD_BLOCK_START.match(out)
    if match is None:
        return out
    if match.group(2)[0].isdigit():
        return out[: match.end()] + "\\" + out[match.end() :]
    return match.group(1) + "\\" + out[match.start(2) :]


def _marks(citations: list[int]) -> str:
    return "".join(f"\\[{n}\\]" for n in citations)


def _reference_md(n: int, pid: str, paper: PaperEntry) -> str:
    parts = [f"**\\[{n}\\]** {md(paper.title)}"]
    if paper.authors:
        parts.append(md(", ".join(paper.authors[:6]) + (" et al." if len(paper.authors) > 6 else "")))
    if paper.date:
        parts.append(md(shown_date(paper.date) or paper.date))
    if paper.arxiv_id:
        parts.append(f"arXiv:{md(paper.arxiv_id)}")
    if paper.doi:
        parts.append(f"doi:{md(paper.doi)}")
    url = paper.url or (f"https://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else None)
    if url and url.startswith(("http://", "https://")) and not any(ch in url for ch in "<> \n"):
        parts.append(f"<{url}>")
    parts.append(f"`{pid.replace('`', '')}`")
    return "- " + " · ".join(parts)


def to_markdown(answer: Answer, threshold: float, papers: dict[str, PaperEntry] | None = None) -> str:
    """The answer as a Markdown document (see the module docstring); ``papers``: the cited papers'
    records (:func:`cited_papers`), by default built from the answer alone."""
    papers = cited_papers(answer) if papers is None else papers
    out = [f"# {md(answer.question)}", ""]
    if answer.note:
        out += [f"_{md(answer.note)}_", ""]
    if answer.error:
        out += [f"**The model could not answer:** {md(answer.error)}", ""]
    out += ["## Answer", ""]
    if answer.preamble:
        out += [md_line(answer.preamble), ""]
    if answer.sentences:
        for s in answer.sentences:
            lead = f"**{md(s.lead)}** — " if s.lead else ""
            out += [f"{lead}{md(s.text) if lead else md_line(s.text)} {_marks(s.citations)}".rstrip(), ""]
    else:
        out += [md_line(answer.answer or (NO_SURVIVOR if state(answer) == "empty" else "No answer was generated.")), ""]
    if reason := why(answer):
        out += [f"_Why: {md(reason)}_", ""]
    meta = [f"mode {answer.mode}", f"coverage {answer.coverage}"]
    if model_wrote(answer):
        meta.append(f"model {answer.model}")
    out += [f"<sub>{md(' · '.join(meta))}</sub>", ""]
    if answer.sentences:
        out += ["## Support", "", "| # | Sentence | Cites | Support | Verdict |", "|---|---|---|---|---|"]
        for i, s in enumerate(answer.sentences, start=1):
            note = f" ({md(s.note)})" if s.note and verdict(s, threshold) != "supported" else ""
            cites = _marks(s.citations) or "—"
            out.append(f"| {i} | {md(s.text)} | {cites} | {s.support:.2f} | {verdict(s, threshold)}{note} |")
        out.append("")
    if answer.citations:
        out += ["## References", ""]
        out += [_reference_md(c["n"], c["paper_id"], papers[c["paper_id"]]) for c in answer.citations]
        out.append("")
    return "\n".join(out)


# -- the answer bundle ---------------------------------------------------------------------------


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes (read in 1 MiB blocks), None if there is none."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_URL_PASSWORD = re.compile(r"(://[^/?#@\s\"]*?:)[^/?#\s\"]+@")


def _settings_dump(settings: Settings) -> dict[str, Any]:
    """The settings as JSON: secrets masked by pydantic (``SecretStr``), secret-looking
    environment values redacted (``assistant.errors.redact``), and the password of a URL
    (``http://user:password@host/``, e.g. in ``llm.api_base``) masked."""
    text = redact(json.dumps(settings.model_dump(mode="json"), default=str))
    return json.loads(_URL_PASSWORD.sub(r"\1***@", text))


def bundle(
    answer: Answer, index: PaperIndex, settings: Settings, threshold: float, created: datetime | None = None
) -> dict[str, Any]:
    """The answer bundle (``ask --format bundle``): see the module docstring. ``index``: the index
    the answer ran on (its committed generation is recorded)."""
    from assistant.catalog import CATALOG

    manifest = index.manifest
    ids = [s.paper_id for s in answer.sources]
    records = manifest.papers.get_many(ids) if ids else {}
    by_n = {s.n: s.paper_id for s in answer.sources}
    try:
        from importlib.metadata import version

        software = version("papers-assistant")
    except Exception:  # not installed as a package (a source checkout on sys.path)
        software = None
    return {
        "bundle": BUNDLE_VERSION,
        "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
        "software": {"papers-assistant": software},
        "question": answer.question,
        "answer": answer.answer,
        "coverage": answer.coverage,
        "abstained": answer.abstained,
        "intent": answer.intent,
        "mode": answer.mode,
        "model": answer.model if model_wrote(answer) else None,  # no model ran (extract, no answer)
        "error": answer.error,
        "note": answer.note,
        "translation": answer.translation,
        "dates": answer.dates,
        "index": {
            "path": str(Path(index.root).resolve()),
            "generation": manifest.generation,
            "catalog": CATALOG,
            "catalog_sha256": file_sha256(index.root / CATALOG),
            "embedding_model": manifest.embedding_model,
            "dimension": manifest.dimension,
            "chunk_size": manifest.chunk_size,
            "chunk_overlap": manifest.chunk_overlap,
            "papers": index.paper_count,
        },
        "settings": _settings_dump(settings),
        "support_threshold": threshold,
        "retrieved": [
            {
                "n": s.n,
                "paper_id": s.paper_id,
                "title": s.title,
                "score": s.score,
                "similarity": s.similarity,
                "relevance": s.relevance,
                "record_sha256": (
                    hashlib.sha256(records[s.paper_id].model_dump_json().encode()).hexdigest()
                    if s.paper_id in records
                    else None
                ),
            }
            for s in answer.sources
        ],
        "sentences": [
            {
                "lead": s.lead,
                "text": s.text,
                "citations": s.citations,
                "cited_ids": [by_n[n] for n in s.citations if n in by_n],
                "support": s.support,
                "flagged": s.flagged,
                "note": s.note,
                "verdict": verdict(s, threshold),
            }
            for s in answer.sentences
        ],
        "citations": answer.citations,
        "removed_citations": answer.removed_citations,
        "decision": answer.decision.as_dict() if answer.decision is not None else None,
        "timings": answer.timings,
        "diagnostics": answer.diagnostics,
    }


def export(answer: Answer, fmt: str, index: PaperIndex, settings: Settings, threshold: float) -> str:
    """``answer`` in ``fmt`` (one of FORMATS) as the text to print or save."""
    from assistant.bibtex import bibtex

    if fmt == "text":
        return answer_terminal(answer, threshold).text
    if fmt == "markdown":
        return to_markdown(answer, threshold, cited_papers(answer, index))
    if fmt == "json":
        return to_json(answer) + "\n"
    if fmt == "bibtex":
        return bibtex(cited_papers(answer, index))
    if fmt == "bundle":
        return json.dumps(bundle(answer, index, settings, threshold), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
