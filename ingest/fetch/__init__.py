"""``papers fetch``: bring papers from the Daily Papers and arXiv APIs into the index, resumably.

One run: for each *job* (a Daily Papers day, or an arXiv query), ask the API page by page
(``daily``, ``arxiv``) through one paced, retrying client (``http``); save every raw response
under ``<index>/fetched/`` with a record of where it came from and which papers it holds
(``store``); then ingest the responses not ingested yet with the ordinary pipeline
(``ingest.pipeline.run_ingest``: only what is new is embedded). ``run`` ties these together,
``cli`` is the command. These are the only modules of the project that reach the network, and
only when the user runs ``papers fetch``.
"""
