"""The web UI in a real headless browser (Debian's chromium driven by Playwright) against a
real uvicorn server: chat with streamed tool calls, sessions, traces, knowledge bases.

Skipped when playwright or chromium is missing, except with ``CI=true`` where that fails.
``KAPIBARA_UI_SCREENSHOTS=DIR`` makes the real-model test save the screenshots of
docs/serve.md there (``ui-chat.png``, ``ui-traces.png``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_fixtures import LiveServer

from kapibara.memory import open_store
from kapibara.models.fake import FakeModel
from kapibara.serve import DEFAULT_AGENTS, create_app

CALL = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "cherries", "quantity": 2}}</tool_call>'
WAIT_MS = 15_000


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests (make test installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing('playwright is not installed: pip install "kapibara[dev]"')
    executable = shutil.which("chromium")
    if executable is None:
        _missing("chromium is not installed: make chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Knowledge bases go under a throwaway KAPIBARA_HOME (the server runs in this process)."""
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def ask(page: Any, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def test_chat_shows_the_tool_call_and_answer_then_the_session_resumes_and_is_deleted(live, page, tmp_path):
    model = FakeModel([CALL, "Added 2 cherries.", CALL, "Now 4 cherries."])
    with live(model) as server:
        page.goto(server.url)
        page.wait_for_selector("#model option[value='agent:shop']", state="attached")
        assert page.input_value("#model") == "agent:shop"  # agents come first
        ask(page, "add 2 cherries")
        call = page.wait_for_selector("[data-testid=tool-call]")
        assert "add_to_cart" in call.text_content() and '"quantity": 2' in call.text_content()
        observation = page.wait_for_selector("[data-testid=observation]")
        assert "cart: {'cherries': 2}" in observation.text_content()
        page.wait_for_selector("[data-testid=answer]:has-text('Added 2 cherries.')")
        session = page.get_attribute("[data-testid=session]", "data-session")
        assert session and page.text_content("#session-label") == f"session {session}"

        page.reload()
        entry = page.wait_for_selector(f"[data-testid=session][data-session='{session}']")
        assert "add 2 cherries" in entry.text_content()
        assert page.locator("[data-testid=answer]").count() == 0  # a fresh page: nothing shown yet
        entry.query_selector("button.open").click()
        page.wait_for_selector("[data-testid=answer]:has-text('Added 2 cherries.')")
        assert "add_to_cart" in page.text_content("[data-testid=tool-call]")
        ask(page, "2 more")  # continues the same session: history and cart come from the store
        page.wait_for_selector("[data-testid=answer]:has-text('Now 4 cherries.')")
        assert [m["content"] for m in model.calls[2].messages if m["role"] == "user"] == ["add 2 cherries", "2 more"]
        assert page.locator("[data-testid=session]").count() == 1

        page.click("#tab-traces")
        page.wait_for_selector("[data-testid=trace-turn] >> nth=1")
        first = page.locator("[data-testid=trace-turn]").first.text_content()
        assert "Turn 1: add 2 cherries" in first and "answer_from_observations" in first and "add_to_cart" in first

        page.click("#tab-chat")
        page.click(f"[data-session='{session}'] [data-testid=delete-session]")
        page.wait_for_selector("[data-testid=session]", state="detached")
        assert page.locator("[data-testid=answer]").count() == 0
        assert open_store(str(tmp_path / "sessions.db")).list_sessions() == []


def test_a_document_uploaded_into_a_knowledge_base_is_found_by_search(live, page, home, tmp_path, hash_embedder):
    doc = tmp_path / "returns.md"
    doc.write_text("# Returns\n\nFresh food can be returned within 7 days with the receipt.\n\n"
                   "# Shipping\n\nOrders over 99 yuan ship free in the city.\n", encoding="utf-8")
    with live(FakeModel([]), embedder=hash_embedder) as server:
        page.goto(server.url)
        page.click("#tab-kb")
        page.fill("#kb-name", "policies")
        page.set_input_files("#kb-file", str(doc))
        page.click("#kb-upload")
        page.wait_for_selector("#kb-report:has-text('returns.md: added')")
        page.fill("#kb-query", "can I return fresh food")
        page.click("#kb-search")
        hit = page.wait_for_selector("[data-testid=kb-hit]")
        assert "returned within 7 days" in hit.text_content() and "returns.md" in hit.text_content()
    assert (home / "kb" / "policies" / "uploads" / "returns.md").read_text(encoding="utf-8") == doc.read_text(encoding="utf-8")


def test_with_api_keys_the_page_asks_for_one_and_sends_it(live, page):
    with live(FakeModel(["Hello!"]), api_keys=("sk-ui",)) as server:
        page.goto(server.url)
        page.wait_for_selector("#key-panel:not([hidden])")
        page.fill("#api-key", "sk-ui")
        page.click("#key-save")
        page.wait_for_selector("#model option[value='agent:shop']", state="attached")
        assert page.is_hidden("#key-panel")
        ask(page, "hi")
        page.wait_for_selector("[data-testid=answer]:has-text('Hello!')")


def test_model_and_tool_text_is_shown_as_text_never_as_html(live, page):
    evil = '<img src=x onerror="document.title=\'pwned\'">'
    with live(FakeModel([evil])) as server:
        page.goto(server.url)
        page.wait_for_selector("#model option[value='agent:shop']", state="attached")
        ask(page, "<b>bold?</b>")
        answer = page.wait_for_selector("[data-testid=answer]")
        assert answer.text_content() == evil
        assert page.locator("#chat-log img").count() == 0 and page.locator("#chat-log b").count() == 0
        assert page.title() == "kapibara"


@pytest.mark.model
def test_the_grocery_agent_answers_in_the_browser_on_the_real_model(real_model, browser, tmp_path):
    pytest.importorskip("kapibara.demo")
    import kapibara.demo  # noqa: F401  (registers the "demo" tool set)

    app = create_app({"qwen2.5-coder-0.5b": real_model}, store=open_store(str(tmp_path / "s.db")),
                     agents=DEFAULT_AGENTS)
    app.state.kapibara.agents.warm()  # what kapibara serve does at startup
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(240_000)  # a turn on a busy 2-core machine
    shots = os.environ.get("KAPIBARA_UI_SCREENSHOTS")
    with LiveServer(app) as server:
        page.goto(server.url)
        page.wait_for_selector("#model option[value='agent:grocery']", state="attached")
        ask(page, "我想买一款拍照好的手机，有推荐吗？")
        call = page.wait_for_selector("[data-testid=tool-call]")
        assert "recommend_products" in call.text_content()
        page.wait_for_selector("[data-testid=observation]")
        answer = page.wait_for_selector("[data-testid=answer]")
        assert answer.text_content().strip()
        page.wait_for_selector("[data-testid=show-trace]")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / "ui-chat.png"))
        page.click("#tab-traces")
        turn = page.wait_for_selector("[data-testid=trace-turn]")
        assert "recommend_products" in turn.text_content()
        if shots:
            page.screenshot(path=str(Path(shots) / "ui-traces.png"), full_page=True)
    context.close()
