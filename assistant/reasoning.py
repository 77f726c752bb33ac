"""Reasoning in a model's reply, kept out of the answer: ``<think>`` blocks and cut-off endings.

Reasoning models served by OpenAI-compatible servers (llama.cpp, vLLM, LM Studio, Ollama) write
their reasoning either in a separate ``reasoning_content`` field (never read as the answer) or in
the content itself, inside ``<think>…</think>`` (also ``<thinking>``, ``<reasoning>``, ``<seed:think>``,
an opening tag with attributes, Magistral's ``[THINK]…[/THINK]``, Kimi's ``◁think▷…◁/think▷`` and gpt-oss's
raw harmony analysis channel, ``<|channel|>analysis<|message|>…<|end|>``). Some chat
templates open the block in the prompt, so the reply holds only its end: text, ``</think>``, the
answer. :class:`ThinkFilter` removes all of these from a stream of deltas, whichever delta a tag
is split across, and says when text it already passed on turns out to have been reasoning (a
``</think>`` that was never opened): the consumer then starts again from the text after it.
"""

from __future__ import annotations

import re

_TAGS = ("think", "thinking", "reasoning")
_NAMES = r"(?:seed:)?(?:" + "|".join(_TAGS) + r")"  # ByteDance Seed-OSS writes <seed:think>
# a reasoning block opens with <think> (attributes allowed: <think type="deep">), [THINK] (Mistral's
# Magistral), ◁think▷ (Kimi) or gpt-oss's raw harmony analysis channel; it closes with the matching end
_OPEN = re.compile(
    r"<\s*" + _NAMES + r"(?:\s[^<>]{0,80})?\s*>|\[\s*think(?:ing)?\s*\]|◁\s*think\s*▷"
    r"|<\|channel\|>\s*(?:analysis|commentary)\b[^<]{0,80}<\|message\|>",
    re.I,
)
_CLOSE = re.compile(r"<\s*/\s*" + _NAMES + r"\s*>|\[\s*/\s*think(?:ing)?\s*\]|◁\s*/\s*think\s*▷|<\|end\|>", re.I)
# harmony's other control tokens carry no text: the start of the final answer, the end of the reply
_MARK = re.compile(
    r"(?:<\|start\|>\s*assistant\s*)?<\|channel\|>\s*final\s*<\|message\|>|<\|start\|>\s*assistant|<\|return\|>", re.I
)
# every tag written out whole (no spaces, lower case): a delta ending in the start of one is held back
_WHOLE = (
    *(f"<{p}{t}>" for t in _TAGS for p in ("", "/", "seed:", "/seed:")),
    "[think]",
    "[/think]",
    "[thinking]",
    "[/thinking]",
    "◁think▷",
    "◁/think▷",
    "<|channel|>analysis<|message|>",
    "<|channel|>commentary<|message|>",
    "<|channel|>final<|message|>",
    "<|start|>assistant<|channel|>final<|message|>",
    "<|end|>",
    "<|return|>",
)
_LONGEST_TAG = max(map(len, _WHOLE)) + 100  # room for spaces, attributes, a channel's name
_ATTRIBUTES = re.compile(r"<\s*" + _NAMES + r"\s[^<>]{0,80}$", re.I)  # <think type="deep" still open


def _held_from(text: str) -> int:
    """Where a tag may begin at the end of ``text`` (that tail waits for the next delta)."""
    for start in range(max(0, len(text) - _LONGEST_TAG), len(text)):
        if text[start] not in "<[◁":
            continue
        tail = text[start:]
        bare = re.sub(r"\s", "", tail).lower()
        if any(tag.startswith(bare) and tag != bare for tag in _WHOLE) or _ATTRIBUTES.match(tail):
            return start
    return len(text)


class ThinkFilter:
    """Feed content deltas in order, then call :meth:`finish`; what they return is answer text.

    After a :meth:`feed` that returns ``restart=True``, everything returned before was reasoning
    (ended by a ``</think>`` that was never opened) and must be discarded by the consumer.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._inside = False
        self._passed = 0  # characters of answer text handed out since the last restart
        self.reasoning_chars = 0  # characters of reasoning removed
        self.blocks = 0  # reasoning blocks removed (closed, unclosed or unopened)
        self.unclosed = False  # the reply ended inside a reasoning block
        self.unopened = False  # a closing tag arrived that no opening tag matched

    def feed(self, text: str) -> tuple[str, bool]:
        """(answer text to pass on now, whether everything passed on before was reasoning)."""
        self._pending += text
        out: list[str] = []
        restart = False
        while self._pending:
            if self._inside:
                close = _CLOSE.search(self._pending)
                if close is None:
                    keep = _held_from(self._pending)
                    self.reasoning_chars += keep
                    self._pending = self._pending[keep:]
                    break
                self.reasoning_chars += close.start()
                self._pending = self._pending[close.end() :]
                self._inside = False
                continue
            opened, closed = _OPEN.search(self._pending), _CLOSE.search(self._pending)
            mark = _MARK.search(self._pending)
            if mark is not None and all(m is None or mark.start() < m.start() for m in (opened, closed)):
                out.append(self._pending[: mark.start()])
                self._pending = self._pending[mark.end() :]
                continue
            if closed is not None and (opened is None or closed.start() < opened.start()):
                # no block was open: all the text so far was reasoning
                self.reasoning_chars += self._passed + sum(map(len, out)) + closed.start()
                self.blocks += 1
                self.unopened, restart, out, self._passed = True, True, [], 0
                self._pending = self._pending[closed.end() :].lstrip()
                continue
            if opened is not None:
                out.append(self._pending[: opened.start()])
                self._pending = self._pending[opened.end() :]
                self._inside = True
                self.blocks += 1
                continue
            keep = _held_from(self._pending)
            out.append(self._pending[:keep])
            self._pending = self._pending[keep:]
            break
        return self._pass("".join(out)), restart

    def finish(self) -> str:
        """The answer text still held back (a ``<`` at the very end that began no tag)."""
        rest, self._pending = self._pending, ""
        if self._inside:
            self.unclosed = True
            self.reasoning_chars += len(rest)
            return ""
        return self._pass(rest)

    def _pass(self, text: str) -> str:
        if not self._passed:
            text = text.lstrip()  # the blank lines a model writes after its reasoning
        self._passed += len(text)
        return text

    @property
    def answered(self) -> bool:
        """Has any answer text been passed on since the last restart?"""
        return self._passed > 0


# a sentence ends at . ! or ? (after it, citation marks, closing quotes or brackets), then a space or the end
_SENTENCE_END = re.compile(r"[.!?](?:\s*\[\d+(?:\s*,\s*\d+)*\])*[\"'”’)\]]*(?=\s|$)")


def without_unfinished_sentence(text: str) -> str:
    """``text`` up to the end of its last finished sentence ("" when none is finished): what a
    reply cut at ``max_tokens`` may show."""
    text = text.rstrip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] == len(text):
        return text
    return text[: ends[-1]] if ends else ""
