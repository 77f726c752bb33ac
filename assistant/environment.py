"""The process environment, set in one place, once, before any library that reads it is imported.

``assistant/__init__.py`` calls :func:`configure` on import, and every entry point (``papers``,
``ask``, ``ingest``, ``evals``, ``papers-ui``, the benchmarks, the tests) imports ``assistant``
first, so no other module edits ``os.environ``. Each variable, and why:

==============================  ==========  ===========================================================
variable                        value       why
==============================  ==========  ===========================================================
``HF_HUB_OFFLINE``              ``1``       models ship in PyPI packages; the hub is never reached
                                            (forced, not defaulted: a user's ``0`` would mean a download)
``TRANSFORMERS_OFFLINE``        ``1``       the same for transformers (forced)
``LITELLM_LOCAL_MODEL_COST_MAP`` ``True``   otherwise litellm fetches its cost map at import time
``ANONYMIZED_TELEMETRY``        ``False``   Chroma's telemetry off
``GRADIO_ANALYTICS_ENABLED``    ``False``   Gradio's analytics and version check off
``RAY_USAGE_STATS_ENABLED``     ``0``       ``ingest --ray``: Ray's usage statistics off in the driver
                                            (forced: a cluster's own setting is its ``ray start``'s;
                                            no dashboard is started, Ray Data's progress bars and logs
                                            are silenced in ``ingest.distributed``)
``TOKENIZERS_PARALLELISM``      ``false``   no fork warnings / thread oversubscription on 2 cores
``OMP_WAIT_POLICY``             ``PASSIVE`` llama.cpp's idle OpenMP workers otherwise spin: measured
                                            1-2 tok/s instead of 6-7 on a loaded 2-core machine;
                                            libgomp reads it once, when first loaded
``NLTK_DATA``                   (removed)   llama-index's NLTK use can call ``nltk.download`` when it
                                            is set; nothing here needs NLTK data from outside
``NO_PROXY``                    +127.0.0.1  only when a proxy is configured: httpx would otherwise send
                                            loopback traffic (the embedded server) through it
==============================  ==========  ===========================================================
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

FORCED = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
}
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def configure(env: MutableMapping[str, str] | None = None, *, threads: int | None = None) -> None:
    """Apply the table above to ``env`` (``os.environ`` by default). Idempotent. ``threads`` also
    pins OMP/MKL thread pools (benchmarks that compare encoders at one thread each)."""
    env = os.environ if env is None else env
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env.update(FORCED)
    for key, value in DEFAULTS.items():
        env.setdefault(key, value)
    env.pop("NLTK_DATA", None)
    if any(env.get(v) for v in _PROXIES):
        for var in ("NO_PROXY", "no_proxy"):
            hosts = [h.strip() for h in env.get(var, "").split(",") if h.strip()]
            if "127.0.0.1" not in hosts:
                env[var] = ",".join([*hosts, "127.0.0.1", "localhost"])
