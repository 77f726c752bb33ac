"""``ask QUESTION``: answer from the indexed papers, with verified citations (or abstain)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import PapersError


@click.command()
@click.argument("question")
@click.option("--k", type=int, help="Papers to retrieve (default from settings: 5).")
@click.option("--model", help="Any litellm model string; default: the embedded local model.")
@click.option("--mode", type=click.Choice(["auto", "generate", "extract"]), help="How to answer.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/).")
@click.option("--date", "dates", multiple=True, help="Only papers with this page date (repeatable), e.g. 'Sep 3'.")
@click.option("--retrieve-only", is_flag=True, help="Show the retrieved papers; no LLM.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
def main(
    question: str,
    k: int | None,
    model: str | None,
    mode: str | None,
    index_dir: Path | None,
    dates: tuple[str, ...],
    retrieve_only: bool,
    as_json: bool,
) -> None:
    """Answer QUESTION from the indexed paper abstracts, citing paper titles."""
    from assistant.settings import load_settings

    try:
        settings = load_settings(**({"index": index_dir} if index_dir else {}))
        if retrieve_only:
            _retrieve_only(question, settings, k, list(dates), as_json)
            return
        from assistant.answer import AnswerChain

        chain = AnswerChain(settings)
        stream = None if as_json else _Streamer()
        answer = chain.answer(question, k=k, mode=mode, model=model, dates=list(dates) or None, on_text=stream)
    except PapersError as exc:
        _fail(str(exc), as_json)
        return
    if as_json:
        click.echo(json.dumps(answer.as_dict()))
    else:
        _print_human(answer)
    if answer.error:
        sys.exit(1)


def _retrieve_only(question: str, settings: Any, k: int | None, dates: list[str], as_json: bool) -> None:
    from assistant.retrieve import Retriever

    retrieval = Retriever(settings).search(question, k=k, dates=dates or None)
    if as_json:
        payload = {
            "question": question,
            "answer": None,
            "citations": [],
            "sources": [s.as_dict() for s in retrieval.sources],
            "sentences": [],
            "abstained": retrieval.abstain,
            "mode": "retrieve-only",
            "model": None,
            "timings": {**retrieval.timings, "generate_ms": 0.0},
        }
        click.echo(json.dumps(payload))
        return
    if retrieval.abstain:
        click.echo("(no paper is close enough to this question: an answer would abstain)\n")
    for s in retrieval.sources:
        click.echo(f"[{s.n}] {s.title}  (score {s.score:.3f}, similarity {s.similarity:.2f})")
        click.echo(f"    {s.snippet[:240]}")


class _Streamer:
    """Prints verified sentences as they are accepted (only verified text is ever shown)."""

    def __init__(self) -> None:
        self.started = False

    def __call__(self, text: str) -> None:
        self.started = True
        click.echo(text, nl=False)
        sys.stdout.flush()


def _print_human(answer: Any) -> None:
    click.echo("")
    if answer.error:
        click.echo(f"error: {answer.error}", err=True)
        if not answer.sentences:
            click.echo("\nRetrieved papers (no answer was generated):")
            for s in answer.sources:
                click.echo(f"  [{s.n}] {s.title}" + (f" ({s.date})" if s.date else ""))
            return
        click.echo("(the model failed, so this answer is the cited evidence itself)")
    flagged = [s for s in answer.sentences if s.flagged]
    if flagged:
        click.echo(f"\n({len(flagged)} sentence(s) flagged as weakly supported; see --json for scores)")
    if answer.removed_citations:
        click.echo(f"(removed citations to papers that were not retrieved: {answer.removed_citations})")
    if answer.citations:
        click.echo("\nCited papers:")
        by_n = {s.n: s for s in answer.sources}
        for c in answer.citations:
            src = by_n[c["n"]]
            extra = ", ".join(x for x in [src.date, src.url] if x)
            click.echo(f"  [{c['n']}] {src.title}" + (f" — {extra}" if extra else ""))


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
