"""An LLM as support scorer (``--judge MODEL``): same interface as assistant.support.SupportScorer.

Kept deliberately simple: one yes/no question per (sentence, evidence) pair, answered through
litellm, so any provider the product can use can also judge. Slow and not exercised in CI; the
heuristic scorer stays the default because it is deterministic and offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.llm import get_model

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
        self.model = get_model(model, settings)  # the same backend seam as the answer chain

    def score(self, sentence: str, evidence: list[str]) -> float:
        """1.0 when the model answers yes, else 0.0. Raises ProviderError when the model fails."""
        prompt = PROMPT.format(evidence="\n\n".join(evidence), sentence=sentence)
        text = self.model.complete([{"role": "user", "content": prompt}], max_tokens=4).strip().lower()
        return 1.0 if text.startswith("yes") else 0.0
