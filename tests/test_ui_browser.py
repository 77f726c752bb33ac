"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; nothing downloads
a browser): ask, watch the answer stream in with a cited title, ask about the abstract that carries
``<script>`` and ``<img onerror>`` and check it shows as text with no dialog, ask a follow-up and
read its condensed query; then a provider error (a local server that answers 500) shows a message
and the sources. Screenshots go to tests/artifacts/ (gitignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_ui import MOE_Q, MOE_TITLE, PAPERS, XSS_Q, XSS_TITLE, free_port, provider_fixture, write_corpus

from assistant import ui
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings, load_settings

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
_ = provider_fixture  # the "provider" fixture: a local server on 127.0.0.1 that answers 500
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (`make browser` installs Debian's)"),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[str]:
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("ui-browser")
    settings: Settings = load_settings(
        index=root / "index",
        embedding=EmbeddingSettings(),
        chunking=ChunkSettings(),
        llm={"retries": 0},  # openai/* goes to the local server that answers 500 (OPENAI_API_BASE)
    )
    assert run_ingest([write_corpus(root / "corpus")], settings).papers == len(PAPERS)
    app = ui.build_app(settings, ui.get_chain(settings))
    _, url, _ = ui.launch(app, settings, free_port(), block=False)
    yield url
    app.close()


def _ask(page, question: str, answers_before: int) -> None:  # type: ignore[no-untyped-def]
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    # a finished answer has its "Cited papers" list (streamed text comes first, without it)
    page.wait_for_function(
        "n => (document.querySelector('#chatbot').innerText.match(/Cited papers/g) || []).length > n",
        arg=answers_before,
        timeout=90_000,
    )


def test_chat_in_a_real_browser(app_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url)
                    if urlparse(r.url).hostname not in {"127.0.0.1", "localhost", None} and r.url.startswith("http")
                    else None
                ),
            )
            page.goto(app_url, wait_until="load")  # not "networkidle": Gradio keeps a heartbeat stream open
            page.locator("#question textarea").wait_for()
            page.get_by_text("Settings", exact=True).click()
            page.locator("#mode").get_by_text("extract", exact=True).click()

            _ask(page, MOE_Q, 0)
            chat = page.locator("#chatbot")
            assert MOE_TITLE in chat.inner_text()
            assert "support" in chat.inner_text()
            page.screenshot(path=str(ARTIFACTS / "ui-1-answer.png"), full_page=True)

            _ask(page, XSS_Q, 1)
            text = chat.inner_text()
            assert XSS_TITLE in text
            assert "<script>alert(1)</script>" in text  # the payload is visible as text...
            assert "<img src=x onerror=alert(1)>" in text
            assert chat.locator("script").count() == 0  # ...and is not markup
            assert page.locator("img[src='x']").count() == 0
            assert page.locator("a[href^='javascript']").count() == 0
            sources = page.locator("#sources").inner_text()
            assert XSS_TITLE in sources and "cited" in sources
            page.screenshot(path=str(ARTIFACTS / "ui-2-script-as-text.png"), full_page=True)

            _ask(page, "How does escaping stop them?", 2)
            page.get_by_text("Search query (condensed follow-ups)").click()
            condensed = page.locator("#condensed").inner_text()
            assert "searched for" in condensed and "cross-site scripting" in condensed.lower()
            page.screenshot(path=str(ARTIFACTS / "ui-3-follow-up.png"), full_page=True)

            # a provider error: a clear message in the chat, and the sources anyway
            page.locator("#model input").fill("openai/x")
            page.locator("#model input").press("Enter")
            page.locator("#mode").get_by_text("generate", exact=True).click()
            page.locator("#question textarea").fill(MOE_Q)
            page.locator("#question textarea").press("Enter")
            page.get_by_text("The model could not answer.").wait_for(timeout=60_000)
            after = chat.inner_text().rsplit("The model could not answer.", 1)[1]
            assert "always fails" in after and "Retrieved papers" in after and MOE_TITLE in after
            assert MOE_TITLE in page.locator("#sources").inner_text()
            page.screenshot(path=str(ARTIFACTS / "ui-4-provider-error.png"), full_page=True)
            page.wait_for_timeout(500)  # a late onerror/alert would land here
        finally:
            browser.close()
    assert dialogs == [], f"a dialog fired: {dialogs}"
    assert outside == [], f"the page fetched from outside 127.0.0.1: {outside}"
