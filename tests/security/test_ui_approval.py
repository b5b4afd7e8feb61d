"""The web UI's Approve / Reject buttons in a real headless browser against a real server.

Skipped when playwright or chromium is missing, except with ``CI=true`` where that fails.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))

from serve_fixtures import LiveServer  # noqa: E402

from kapibara.memory import open_store  # noqa: E402
from kapibara.models.fake import FakeModel  # noqa: E402
from kapibara.serve import AgentSpec, create_app  # noqa: E402
from kapibara.serve.agents import with_policy  # noqa: E402
from kapibara.tools import ToolContext, ToolSet, tool  # noqa: E402
from kapibara.toolsets import register_toolset, unregister_toolset  # noqa: E402

CALL = '<tool_call>{"name": "order", "arguments": {"item": "cherries"}}</tool_call>'


@tool(side_effect=True)
def order(item: str, ctx: ToolContext) -> str:
    """Order an item.

    Args:
        item: what to order
    """
    ctx.state["ordered"] = [*ctx.state.get("ordered", []), item]
    return f"ordered {item}"


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser tests")
        pytest.skip("playwright is not installed")
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser tests")
        pytest.skip("chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    register_toolset("security-ui-shop", lambda: ToolSet([order]).specs(), toolset_factory=lambda: ToolSet([order]))
    db = tmp_path / "s.db"
    model = FakeModel([CALL, "Ordered cherries.", CALL, "Not ordered."])
    app = create_app({"m": model}, store=open_store(str(db)),
                     agents=with_policy((AgentSpec("shop", "security-ui-shop"),), ["confirm"]))
    try:
        with LiveServer(app) as live:
            yield live, db
    finally:
        unregister_toolset("security-ui-shop")


def test_approve_runs_the_call_and_reject_does_not(browser, server):
    live, db = server
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(live.url)
    page.wait_for_selector("#model option[value='agent:shop']", state="attached")
    page.fill("#question", "order cherries")
    page.press("#question", "Enter")
    page.wait_for_selector("[data-testid=pending-step]")
    assert "cherries" in page.text_content("[data-testid=pending-step]")
    session = page.text_content("#session-label").replace("session ", "").strip()
    assert "ordered" not in open_store(str(db)).get_state(session)
    page.click("[data-testid=approve]")
    page.wait_for_selector("text=Ordered cherries.")
    assert open_store(str(db)).get_state(session)["ordered"] == ["cherries"]
    page.fill("#question", "order cherries again")
    page.press("#question", "Enter")
    page.wait_for_selector("[data-testid=approve]")
    page.click("[data-testid=reject]")
    page.wait_for_selector("[data-testid=approval]", state="detached")
    page.wait_for_selector("text=Not ordered.")
    assert open_store(str(db)).get_state(session)["ordered"] == ["cherries"]
    page.close()
