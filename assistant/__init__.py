"""papers-assistant: answers from paper abstracts with verified citations, offline by default.

Process-wide environment that must be set before the libraries that read it are imported
(every entry point imports this package first):

- OMP_WAIT_POLICY=PASSIVE: llama.cpp's idle OpenMP threads otherwise busy-wait, which on a
  2-core machine cut generation to a fraction (measured: 1-2 tok/s instead of 6-7 under load).
- LITELLM_LOCAL_MODEL_COST_MAP=True: otherwise litellm fetches its cost map from the network
  at import time.
- HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE: models ship in packages; the hub is never reached.
- ANONYMIZED_TELEMETRY=False, GRADIO_ANALYTICS_ENABLED=False: no telemetry from Chroma or Gradio.
"""

import os

for _key, _value in {
    "OMP_WAIT_POLICY": "PASSIVE",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)
