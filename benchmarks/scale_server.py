"""Cold start and warm latency at 100k papers with the vectors in a Chroma server.

    .venv/bin/python benchmarks/scale_server.py benchmarks/out/scale/index-100000 WORKDIR PORT

after ``benchmarks/scale.py --keep``: the kept index is copied, its Chroma folder served by
``chroma run`` on loopback, its collections renamed for server mode; then `ask --retrieve-only`
runs as new processes (the first one waits for the server to load its HNSW indexes) and an
in-process chain times 200 questions. Prints the figures (docs/evaluation.md: Scale).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

LAT = """
import sys, json, time, statistics, assistant
from assistant.answer import AnswerChain
from assistant.settings import load_settings
qs = json.load(open('benchmarks/out/scale/questions.json'))
c = AnswerChain(load_settings()); c.retrieve(qs[0])
fused, full = [], []
for q in qs:
    t = time.perf_counter(); c.retriever.search(q); t1 = time.perf_counter(); c.retrieve(q); t2 = time.perf_counter()
    fused.append((t1 - t) * 1000); full.append((t2 - t1) * 1000)
p95 = lambda v: sorted(v)[round(0.95 * (len(v) - 1))]
ms = lambda v: [round(statistics.median(v), 1), round(p95(v), 1)]
print(json.dumps({"server_fused_ms": ms(fused), "server_retrieve_ms": ms(full)}))
"""
src = Path(sys.argv[1])
work = Path(sys.argv[2])
port = int(sys.argv[3])
work.mkdir(parents=True, exist_ok=True)
idx, data = work / "index", work / "data"
manifest = json.loads((src / "manifest.json").read_text())
if not data.exists():
    shutil.copytree(src / manifest["chroma_dir"], data)
    # an index grown by ingests has delta stores beside its base (assistant.segments): one collection here
    from assistant.chroma import collection_name
    from assistant.delta import merge_into

    name = collection_name(manifest["embedding_model"], manifest["chunk_size"], manifest["chunk_overlap"])
    merge_into(data, [src / d for d in manifest.get("chroma_deltas", [])], name)
    shutil.copytree(
        src, idx, ignore=lambda d, names: [n for n in names if n.startswith("chroma") or n.startswith(".lock")]
    )
bin_ = Path(sys.executable).parent
env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
proc = subprocess.Popen(
    [str(bin_ / "chroma"), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    env=env,
)
try:
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", trust_env=False)
            break
        except httpx.HTTPError:
            time.sleep(0.3)
    import chromadb
    from chromadb.config import Settings as CS

    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=CS(anonymized_telemetry=False))
    token = "5e77e700"
    for c in client.list_collections():
        if token not in c.name:
            base = c.name.replace("-sentences", "")
            new = f"{base}-{token}" + ("-sentences" if c.name.endswith("-sentences") else "")
            client.get_collection(c.name).modify(name=new)
    manifest["chroma_dir"] = "server/" + token
    manifest["previous_chroma_dir"] = None
    manifest["chroma_deltas"] = manifest["previous_chroma_deltas"] = []
    (idx / "manifest.json").write_text(json.dumps(manifest))
    cfg = work / "config.toml"
    cfg.write_text(f'[index]\npath = "{idx}"\nchroma_host = "127.0.0.1"\nchroma_port = {port}\n')
    envc = dict(env, PAPERS_CONFIG=str(cfg))
    first = time.perf_counter()
    subprocess.run([str(bin_ / "ask"), "--retrieve-only", "warm the server"], env=envc, capture_output=True, check=True)
    print("first ask (server loads its HNSW)", round(time.perf_counter() - first, 2))
    walls = []
    for q in ["vitamin D and bone density", "statins and cardiovascular risk", "gut microbiome and obesity"]:
        t = time.perf_counter()
        done = subprocess.run([str(bin_ / "ask"), "--retrieve-only", q], env=envc, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        assert done.returncode == 0, done.stderr
    print("cold start (server mode) median", round(statistics.median(walls), 2), walls)
    print(done.stdout[:200])
    lat = subprocess.run([sys.executable, "-c", LAT, str(cfg)], capture_output=True, text=True, env=envc)
    print(lat.stdout, lat.stderr[-500:])
finally:
    proc.terminate()
    proc.wait(20)
