"""How stored text is shown: titles shortened for display, never in the index.

A title is stored whole (it is evidence, and it identifies the paper), but one of 60,000 characters
would fill every answer that lists it. Every place that shows a paper list (``ask``'s output and
``--json``, the UI's chat and side panel, the ``/chat`` text and ``POST /api/ask``) shows
:func:`short_title`: at most ``TITLE_LIMIT`` characters, an ellipsis marking the cut.
"""

from __future__ import annotations

from typing import Any

TITLE_LIMIT = 300


def short_title(title: str, limit: int = TITLE_LIMIT) -> str:
    """``title`` as shown: whole up to ``limit`` characters, else cut to ``limit`` with "…" last."""
    if len(title) <= limit:
        return title
    return title[: limit - 1].rstrip() + "…"


def shown_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """An ``Answer.as_dict`` / ``Retrieved.as_dict`` object with the titles of its sources and
    citations shortened (:func:`short_title`); the object is changed in place and returned."""
    for key in ("sources", "citations"):
        for item in payload.get(key) or []:
            if isinstance(item.get("title"), str):
                item["title"] = short_title(item["title"])
    return payload
