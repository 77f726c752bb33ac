"""Loaded by every Python process started with this folder on PYTHONPATH (tests/test_telemetry.py):
an audit hook that refuses every network connection beyond this machine and records the attempt.

Audit events (PEP 578) fire for every ``socket.connect`` and ``socket.getaddrinfo``, whichever
library makes them (httpx, urllib, requests, posthog, Chroma's or Gradio's telemetry), so a
phone-home cannot slip past; refusing it (ConnectionRefusedError / gaierror) is what an offline
laptop would do. Attempts go to the file named by ``NETGUARD_LOG``, one line each.
"""

from __future__ import annotations

import os
import socket
import sys

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    text = str(host).strip("[]").lower()
    return text in _LOCAL_NAMES or text.startswith("127.") or text in ("::1", "0.0.0.0", "::")


def _record(what: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {' '.join(sys.argv[:2])}: {what}\n")


def _hook(event: str, args: tuple) -> None:
    if event == "socket.connect":
        sock, address = args
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _record(f"connect {address}")
            raise ConnectionRefusedError(f"netguard: connection to {address} refused (tests run offline)")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if not _local(host):
            _record(f"resolve {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: {host} not resolved (tests run offline)")


if _LOG:
    sys.addaudithook(_hook)
