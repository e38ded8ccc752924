"""Running for a team, in a real browser: two `streamlit run app.py` processes on different
ports, each with its own (empty) data dir, share one desk through SUPPORT_DATABASE_URL (a
fresh PostgreSQL database), SUPPORT_REDIS_URL and SUPPORT_CHROMA_URL (a `chroma run` server).

A customer's message escalates on instance A; an agent signed in on instance B sees it and
claims it; a colleague on instance A, whose page still offers the claim, is refused. The
database then holds exactly one claim. Driven by headless Chromium like test_browser.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from support_core.adapters.ticket_store_postgres import PostgresTicketStore
from support_core.testing.postgres import fresh_database
from tests.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    ROOT,
    WAIT_MS,
    app_env,
    chroma_server,
    cli,
    go_to,
    new_customer,
    send,
    settle,
    sign_in,
    streamlit_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.redis]
REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ANGRY = ("This is the third time I write: you charged me twice and NOBODY answers!!! "
         "I want a refund now or I cancel.")


def page_on(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1440, "height": 1400}).new_page()
    page.goto(url, timeout=WAIT_MS)
    return page


def open_inbox(page: Page, agent: str, customer: str) -> None:
    """Sign in on the inbox; the customer's ticket is the only one, so it opens beside it."""
    go_to(page, "Handoff inbox")
    sign_in(page, agent)
    page.get_by_role("heading", name=re.compile(customer)).wait_for(timeout=WAIT_MS)
    settle(page)


@pytest.mark.timeout(1500)  # two apps, a Chroma server and three browser pages on 2 cores
def test_two_streamlit_processes_share_one_desk_and_one_claim_wins(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium: apt-get install -y chromium")
    customer = f"tess-{uuid.uuid4().hex[:6]}"  # fresh in the shared Redis db
    with fresh_database() as db_url, chroma_server(tmp_path / "chroma") as chroma_url:
        shared = {"SUPPORT_DATABASE_URL": db_url, "SUPPORT_REDIS_URL": REDIS_URL,
                  "SUPPORT_CHROMA_URL": chroma_url}
        env_a = app_env(tmp_path / "a") | shared
        env_b = app_env(tmp_path / "b") | shared
        cli(env_a, "ingest", str(ROOT / "data" / "kb"))  # into the shared Chroma server
        for name in ("sam", "ana"):  # on instance A's command line; instance B sees them
            cli(env_a, "users", "add", name, "--role", "agent", "--password-stdin",
                stdin=PASSWORD + "\n")
        with (streamlit_app(env_a, tmp_path / "a.log") as app_a,
              streamlit_app(env_b, tmp_path / "b.log") as app_b,
              sync_playwright() as pw):
            expect.set_options(timeout=60_000)
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            chat = page_on(browser, app_a.url)
            chat.get_by_test_id("stChatInputTextArea").wait_for(timeout=WAIT_MS)
            new_customer(chat, customer)
            send(chat, ANGRY, "specialist will take over")

            rival = page_on(browser, app_a.url)  # ana on A: the ticket offers "Claim"
            open_inbox(rival, "ana", customer)
            expect(rival.get_by_role("button", name="Claim")).to_be_visible()

            agent = page_on(browser, app_b.url)  # sam on B: sees A's escalation, claims it
            open_inbox(agent, "sam", customer)
            agent.get_by_role("button", name="Claim").click()
            agent.get_by_text(re.compile("claimed by sam")).wait_for(timeout=WAIT_MS)

            rival.get_by_role("button", name="Claim").click()  # too late, from instance A
            settle(rival)
            refused = rival.get_by_text(re.compile(r"sam (is handling|already claimed)"))
            expect(refused.first).to_be_visible()
            expect(rival.get_by_text(re.compile("claimed by ana"))).to_have_count(0)
            browser.close()
        logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()

        store = PostgresTicketStore(db_url)
        try:
            handoffs = store.list_handoffs()
            assert [(h.customer_id, h.claimed_by) for h in handoffs] == [(customer, "sam")]
            assert [e["actor"] for e in store.events(name="claimed")] == ["sam"]
        finally:
            store.close()
    assert "Traceback" not in logs
    assert not (tmp_path / "a" / "deskpilot.db").exists()  # nothing went to a local file
