"""An LLM as support scorer (``--judge MODEL``): same interface as assistant.support.SupportScorer.

Kept deliberately simple: one yes/no question per (sentence, evidence) pair, answered through
litellm, so any provider the product can use can also judge. Slow and not exercised in CI; the
heuristic scorer stays the default because it is deterministic and offline.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from assistant.errors import ProviderError
from assistant.settings import EMBEDDED_PREFIX

if TYPE_CHECKING:
    from assistant.settings import Settings

PROMPT = """Source:
{evidence}

Sentence: {sentence}

Does the source support every claim in the sentence? Answer with one word: yes or no."""


class JudgeScorer:
    threshold = 0.5

    def __init__(self, model: str, settings: Settings) -> None:
        self.name = f"judge:{model}"
        self.settings = settings
        self.kwargs: dict[str, Any] = {"model": model, "api_base": settings.llm.api_base}
        if model.startswith(EMBEDDED_PREFIX):  # served in-process, reached like any OpenAI server
            from assistant.embedded import get_server

            name = model[len(EMBEDDED_PREFIX) :]
            server = get_server(name, settings.cache, settings.llm.threads, settings.llm.context)
            self.kwargs = {"model": f"openai/{name}", "api_base": server.api_base, "api_key": "none"}

    def score(self, sentence: str, evidence: list[str]) -> float:
        """1.0 when the model answers yes, else 0.0."""
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import
        import litellm

        prompt = PROMPT.format(evidence="\n\n".join(evidence), sentence=sentence)
        try:
            reply = litellm.completion(
                messages=[{"role": "user", "content": prompt}],
                temperature=0.0,
                max_tokens=4,
                timeout=self.settings.llm.timeout_s,
                **self.kwargs,
            )
        except Exception as exc:  # litellm raises many provider-specific types
            raise ProviderError(f"judge {self.kwargs['model']} failed: {exc}") from exc
        text = (reply.choices[0].message.content or "").strip().lower()
        return 1.0 if text.startswith("yes") else 0.0
