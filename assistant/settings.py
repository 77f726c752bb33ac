"""One settings object for the whole project, read from TOML and ``PAPERS_*`` variables.

Precedence (highest first): explicit keyword arguments (the CLIs pass their flags this way),
``PAPERS_*`` environment variables (nested with ``__``, e.g. ``PAPERS_LLM__MODEL``), the TOML file
(``$PAPERS_CONFIG`` or ``config.toml`` in the working directory), then the defaults below.
Unknown keys are rejected everywhere, so a typo in the config is an error, not a silent default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.setting_sources import config_file, source_of

EMBEDDED_PREFIX = "embedded/"
MAX_K = 50  # the most papers one question may retrieve (every door: ask --k, UI, API)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbeddingSettings(_Section):
    model: Literal["all-MiniLM-L6-v2", "all-mpnet-base-v2"] = Field(
        "all-MiniLM-L6-v2",
        description="Sentence-transformers model; both ship in PyPI packages and load offline. "
        "The index records it: switching models needs a rebuild.",
    )
    batch_size: int = Field(64, ge=1, description="Texts per encode call.")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="How ingest runs the encoder: sentence-transformers on torch (the reference), its fp32 "
        "ONNX export, or that export with int8 dynamic quantisation (onnxruntime). Queries always use the "
        "fp32 ONNX export. onnx-int8: SciFact test nDCG@10 0.739 vs 0.738 for torch (docs/evaluation.md).",
    )
    sentence_vectors: bool = Field(
        True,
        description="Also store one vector per abstract sentence, so picking the evidence sentences "
        "for an answer costs no encoding at query time (about 2x the ingest time). Off: evidence "
        "sentences are encoded per query (a few seconds on a CPU).",
    )


class ChunkSettings(_Section):
    chunk_size: int = Field(
        200, ge=32, description="Tokens per chunk (llama-index SentenceSplitter); MiniLM reads 256."
    )
    chunk_overlap: int = Field(40, ge=0, description="Tokens shared by neighbouring chunks.")


class RetrievalSettings(_Section):
    k: int = Field(5, ge=1, le=MAX_K, description="Papers handed to the answer step.")
    candidates: int = Field(
        200, ge=5, description="Chunks fetched from each retriever before fusion (200 measured best on SciFact train)."
    )
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of the dense ranking in fusion (BM25 gets the rest)."
    )
    fusion: Literal["zscore", "rrf"] = Field(
        "zscore", description="How dense and BM25 scores are combined (zscore measured best on SciFact)."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant (fusion = rrf).")
    sentence_weight: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Weight of the third ranking, each paper's best abstract sentence by cosine similarity "
        "(needs embedding.sentence_vectors); dense and BM25 share the rest by dense_weight. Off by "
        "default: 0.2 gained 0.003 nDCG@10 on SciFact train (0.742 vs 0.739), within noise, and lost "
        "0.003 on SciFact test (0.735 vs 0.738); the best sentence still informs abstention.",
    )
    abbreviations: bool = Field(
        True,
        description="Add the collection's own abbreviation expansions to the search ('LLM' also searches "
        "'large language model', and back). On: realistic dev answered more questions with the right papers "
        "first; SciFact test nDCG@10 0.720 with it against 0.731 without (biomedical short forms expand noisily).",
    )
    expand: bool = Field(
        False,
        description="When coverage is uncertain (closest) and a model answers, ask the model once for the "
        "terms an answering abstract would use and search again with them (query expansion; at most "
        "expand_tokens tokens, only then; never in extract mode or --retrieve-only). Off by default: on "
        "realistic dev it turned 3 of 5 uncertain near misses into answers and 0 of 3 uncertain answerable "
        "questions (embedded qwen2.5-0.5b; 1.5-14 s each on a loaded machine).",
    )
    expand_tokens: int = Field(40, ge=8, le=200, description="Longest list of terms the model may write.")
    rerank_depth: int = Field(
        0,
        ge=0,
        le=100,
        description="Fused papers read against the question by the shipped relevance cross-encoder "
        "(assistant.rerank); 0 (the default) turns reranking off. Off because it did not earn its cost: "
        "on realistic dev every depth (5, 10, 20) and weight > 0 ranked no better than fusion alone "
        "(hit@1 0.95 at weight 0.25-0.5 against 0.975) at 0.6-2.3 s per question on one thread "
        "(benchmarks/rerank.py; docs/models.md).",
    )
    rerank_weight: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of the cross-encoder in the reranked order (0: fusion alone, 1: the cross-encoder "
        "alone), both z-normalised over the reranked papers.",
    )


class AbstentionSettings(_Section):
    calibrate: bool = Field(
        True,
        description="Fit the abstention decision for this collection at ingest, from pseudo-questions "
        "asked with their paper present and masked out (no labels; see assistant.calibrate).",
    )
    sample: int = Field(300, ge=10, description="Papers drawn for pseudo-questions (two each).")
    seed: int = Field(0, description="Seed for drawing them (the fit is reproducible).")
    target_refused: float = Field(
        0.08,
        gt=0.0,
        lt=1.0,
        description="Share of answerable questions the decision may refuse, applied to the calibrated "
        "scores of this collection's pseudo-questions: lower answers more (and refuses fewer near "
        "misses), higher refuses more. Chosen on realistic dev and the old dev split (docs/evaluation.md): "
        "0.08 answered 0.93 and 0.99 of their answerable questions; the rest go to 'closest', not 'none'.",
    )
    target_none: float = Field(
        0.02,
        gt=0.0,
        lt=1.0,
        description="Share of answerable questions the decision may call not covered at all (below this the "
        "closest papers are still shown, marked as such): the floor is this quantile of the calibrated "
        "scores of this collection's pseudo-questions.",
    )
    refit_change: float = Field(
        0.1, gt=0.0, le=1.0, description="Refit after this share of the papers was added, changed or removed."
    )


class LLMSettings(_Section):
    model: str = Field(
        "embedded/qwen2.5-0.5b",
        description="Any litellm model string (openai/gpt-4o-mini, ollama/llama3.2, ...). "
        "'embedded/<name>' serves a packaged GGUF in-process on 127.0.0.1 and reaches it through "
        "litellm like any OpenAI-compatible server.",
    )
    api_base: str | None = Field(
        None,
        description="Override the base URL of llm.model (only that model: a model chosen per question goes to "
        "its provider's own URL, so a key is never sent to this host by accident).",
    )
    timeout_s: float = Field(
        120.0, gt=0, description="Limit for one attempt of an LLM call (connect, first token, whole reply), in seconds."
    )
    retries: int = Field(
        2,
        ge=0,
        le=5,
        description="Retries of a hosted model's call on 429, 5xx, a dropped connection or a timeout, with "
        "exponential backoff honouring Retry-After (litellm's max_retries, applied by the provider's client); "
        "never on 401/403. The embedded model is not retried. Worst case: (retries + 1) x timeout_s + backoff.",
    )
    max_tokens: int = Field(256, ge=16, description="Longest answer the model may write.")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    threads: int = Field(2, ge=1, description="CPU threads for the embedded model.")
    context: int = Field(4096, ge=512, description="Context window of the embedded model.")


class AnswerSettings(_Section):
    mode: Literal["auto", "generate", "extract"] = Field(
        "auto",
        description="generate: model prose, unsupported sentences dropped; extract: cited evidence "
        "sentences only; auto: generate, falling back to extract when too little survives checks.",
    )
    evidence_per_paper: int = Field(2, ge=1, description="Evidence sentences per paper in the prompt.")
    prompt_papers: int = Field(
        3, ge=1, description="Papers whose evidence goes into the prompt (prompt length is CPU time)."
    )
    support: Literal["learned", "heuristic"] = Field(
        "heuristic",
        description="How an answer sentence is checked against the papers it cites: 'learned' (the shipped "
        "support cross-encoder trained here, times the number, figure and name checks; a sentence the cited "
        "paper contradicts is dropped or flagged) or 'heuristic' (embedding similarity and lexical checks only).",
    )
    min_support: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Support score (0-1) below which an answer sentence is dropped or flagged. Default: 0.5 "
        "for 'learned' (a probability) and 0.65 for 'heuristic' (best F1 on half of evals/support_pairs.jsonl).",
    )

    @property
    def support_threshold(self) -> float:
        """``min_support``, or the default of the chosen ``support`` check."""
        if self.min_support is not None:
            return self.min_support
        return 0.5 if self.support == "learned" else 0.65


class UISettings(_Section):
    host: str = Field(
        "127.0.0.1",
        description="Bind address; loopback only by default. Any other address (0.0.0.0, a LAN IP) needs "
        "ui.username and ui.password, or the UI refuses to start.",
    )
    port: int = Field(7860, ge=0, le=65535)
    concurrency: int = Field(2, ge=1, description="Answers generated at once (Gradio queue).")
    username: str | None = Field(None, description="Login for the UI and the HTTP API (both or neither).")
    password: SecretStr | None = Field(
        None,
        description="Its password; prefer the environment (PAPERS_UI__PASSWORD) to a file. Never logged or "
        "shown. The UI asks for it on a login page, the HTTP API as HTTP Basic auth.",
    )

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(username, password) when both are set, else None."""
        if self.username and self.password and self.password.get_secret_value():
            return self.username, self.password.get_secret_value()
        return None

    @property
    def loopback(self) -> bool:
        """Does ``host`` bind to this machine only (127.0.0.0/8, ::1, localhost)?"""
        import ipaddress

        if self.host.strip().lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip()).is_loopback
        except ValueError:
            return False  # a host name: it may resolve anywhere


class FetchSettings(_Section):
    """``papers fetch`` (ingest.fetch): where the paper APIs are and how politely they are asked."""

    daily_url: str = Field(
        "https://huggingface.co/api/daily_papers",
        pattern=r"^https?://[^\s/]+",
        description="The Hugging Face Daily Papers API (JSON; asked with ?date=YYYY-MM-DD&p=PAGE&limit=N).",
    )
    arxiv_url: str = Field(
        "https://export.arxiv.org/api/query",
        pattern=r"^https?://[^\s/]+",
        description="The arXiv API (Atom; asked with search_query, start, max_results, sortBy, sortOrder).",
    )
    daily_delay_s: float = Field(1.0, ge=0, description="Least seconds between two requests to the Daily Papers API.")
    arxiv_delay_s: float = Field(
        3.0,
        ge=0,
        description="Least seconds between two requests to the arXiv API, counted from the end of one to the "
        "start of the next (retries included): arXiv's terms ask for one request every 3 seconds.",
    )
    timeout_s: float = Field(
        30.0, gt=0, description="Seconds to connect, and between bytes of the answer, before a request is failed."
    )
    retries: int = Field(
        4, ge=0, le=10, description="Retries of a request answered 429 or 5xx, timed out or cut (then an error)."
    )
    backoff_s: float = Field(
        5.0,
        ge=0,
        description="Wait before the first retry, doubled for each next one; a longer Retry-After is honoured "
        "(up to 300 s).",
    )
    @field_validator("daily_url", "arxiv_url", mode="after")
    @classmethod
    def _url_parses(cls, value: str) -> str:
        """A URL that does not parse (``http://[::1/x``) is a settings error, not a failed connection."""
        from urllib.parse import urlsplit

        try:
            host = urlsplit(value).hostname
        except ValueError as exc:
            raise ValueError(f"not a URL ({exc})") from None
        if not host:
            raise ValueError("not a URL: no host")
        return value

    max_response_mb: float = Field(
        20.0, gt=0, description="Largest answer read from a paper API (MB); a larger one is an error, read no further."
    )
    daily_page_size: int = Field(100, ge=1, le=100, description="Papers per Daily Papers request (the API's limit).")
    arxiv_page_size: int = Field(100, ge=1, le=2000, description="Entries per arXiv request (max_results).")
    user_agent: str = Field(
        "papers-assistant/0.1 (papers fetch; question answering over paper abstracts)",
        min_length=1,
        pattern=r"^[\x20-\x7e]+$",  # an HTTP header value: printable ASCII, no line breaks
        description="User-Agent of every fetch request; add a contact (mailto:you@example.org) so the APIs' "
        "operators can reach you rather than block you.",
    )


class IndexSettings(_Section):
    path: Path = Field(Path(".papers"), description="Index directory (manifest, paper catalog, BM25, local vectors).")
    chroma_host: str | None = Field(
        None,
        description="Keep the vectors in a Chroma server at this host (`chroma run --path DIR --host 127.0.0.1 "
        "--port N`) instead of in the index directory; everything else stays there. None: embedded Chroma.",
    )
    chroma_port: int = Field(8000, ge=1, le=65535, description="The Chroma server's port (with chroma_host).")
    chroma_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a request to the Chroma server may take before it is an error."
    )

    @property
    def remote(self) -> bool:
        return bool(self.chroma_host)


class Settings(BaseSettings):
    """Everything configurable, passed down explicitly; no module reads the environment itself."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERS_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    # a plain path (TOML `index = "dir"`, PAPERS_INDEX=dir, --index) or the [index] section
    index: IndexSettings | Path = Field(default_factory=lambda: IndexSettings(), description="The index.")
    data: Path = Field(Path("data"), description="What `ingest` reads when given no paths.")
    cache: Path = Field(
        Path.home() / ".cache" / "papers-assistant",
        description="Where assembled model files are kept (built once, checksum verified).",
    )
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkSettings = ChunkSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    abstention: AbstentionSettings = AbstentionSettings()
    llm: LLMSettings = LLMSettings()
    answer: AnswerSettings = AnswerSettings()
    ui: UISettings = UISettings()
    fetch: FetchSettings = FetchSettings()

    def at(self, path: Path) -> Settings:
        """These settings for the index at ``path`` (the same Chroma server, if any)."""
        assert isinstance(self.index, IndexSettings)
        return self.model_copy(update={"index": self.index.model_copy(update={"path": path})})

    @field_validator("index", mode="after")
    @classmethod
    def _index_section(cls, value: IndexSettings | Path) -> IndexSettings:
        return value if isinstance(value, IndexSettings) else IndexSettings(path=value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def _variables() -> dict[str, str]:
    """Every ``PAPERS_*`` variable the settings read, upper-cased: a section as JSON
    (``PAPERS_LLM``), each field of it (``PAPERS_LLM__MODEL``), and ``PAPERS_CONFIG``."""
    names = {"PAPERS_CONFIG": "PAPERS_CONFIG"}
    for name, info in Settings.model_fields.items():
        top = f"PAPERS_{name.upper()}"
        names[top] = top
        kinds = [info.annotation, *getattr(info.annotation, "__args__", ())]
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                for field in kind.model_fields:
                    names[f"{top}__{field.upper()}"] = f"{top}__{field.upper()}"
    return names


def check_environment() -> None:
    """ConfigError naming every ``PAPERS_*`` variable no setting reads (a typo such as
    ``PAPERS_RETRIEVAL_K`` for ``PAPERS_RETRIEVAL__K`` must not be silently ignored)."""
    import difflib

    from assistant.errors import ConfigError

    known = _variables()
    unknown = sorted(k for k in os.environ if k.upper().startswith("PAPERS_") and k.upper() not in known)
    if not unknown:
        return
    said = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), list(known), n=1, cutoff=0.75)
        said.append(f"{name} (did you mean {close[0]}?)" if close else name)
    plural = "s" if len(unknown) > 1 else ""
    raise ConfigError(
        f"unknown environment variable{plural} {', '.join(said)}: settings are PAPERS_<SECTION>__<FIELD>, "
        "e.g. PAPERS_RETRIEVAL__K (see config.example.toml)"
    )


def load_settings(**overrides: object) -> Settings:
    """Build settings; any mistake is a ConfigError of one line that names its source (the
    ``PAPERS_*`` variable, the TOML file, or the option), never the value given."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from assistant.errors import ConfigError

    check_environment()
    index = overrides.pop("index", None)  # --index DIR: the folder only; [index]'s server settings stay
    toml = config_file()
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        return settings.at(Path(index)) if index is not None else settings  # type: ignore[arg-type]
    except ValidationError as exc:
        # the fields and what is wrong, never the values given: a password or key may be among them
        problems = []
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        # a union (``index``: a section or a path): when the section was meant, its errors are the ones
        sections = {e["loc"][0] for e in errors if len(e["loc"]) > 2 and str(e["loc"][1])[:1].isupper()}
        for e in errors:
            if e["loc"][0] in sections and len(e["loc"]) == 2 and not str(e["loc"][1]).isidentifier():
                continue
            field = ".".join(p for p in e["loc"] if isinstance(p, str) and p.isidentifier() and not p[:1].isupper())
            field = field or "settings"
            problem = f"{field} (from {source_of(e['loc'], overrides, toml)}): {e['msg']}"
            if problem not in problems:
                problems.append(problem)
        raise ConfigError(f"invalid setting{'s' if len(problems) > 1 else ''} {'; '.join(problems)}") from exc
    except SettingsError as exc:  # a section variable that is not JSON (PAPERS_LLM='model=x')
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"PAPERS_{field.group(1).upper()}" if field else "a PAPERS_* variable"
        raise ConfigError(
            f"cannot read {name}: a whole section must be JSON; or set one field, e.g. {name}__<FIELD>"
        ) from exc
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read config {toml or 'config.toml'}: {' '.join(str(exc).split())}") from exc
