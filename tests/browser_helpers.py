"""What the browser tests share: starting `streamlit run app.py` (and a `chroma run` server)
on free loopback ports, and driving Streamlit pages in Debian's headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the Chroma tests use the process helpers without Playwright
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
OUT = ROOT / "test-output" / "browser"
PASSWORD = "browser-test-password"
WAIT_MS = 120_000  # one slow step on a busy 2-core machine must not fail the flow

@dataclass
class Server:
    url: str
    started_at: float  # perf_counter() just before `streamlit run` was launched
    log: Path
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(SUPPORT_DATA_DIR=str(data_dir), SUPPORT_KB_DIR=str(ROOT / "data" / "kb"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    return env


def wait_for_health(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not become healthy:\n{log.read_text()[-3000:]}")


@contextmanager
def streamlit_app(env: dict[str, str], log: Path) -> Iterator[Server]:
    """`streamlit run app.py` with ``env`` on a free port, until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.headless", "true", "--server.address", "127.0.0.1",
               "--server.fileWatcherType", "none"]
    started_at = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, proc, log)
        yield Server(url, started_at, log, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """`chroma run` (shipped with chromadb) on a free port; yields its URL."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("`chroma run` did not answer within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ----------------------------------------------------------------------------- page helpers
def settle(page: Page) -> None:
    """Wait until the script run is over and lazy elements (tables, charts) have drawn."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=WAIT_MS)
    page.locator('[data-testid="stSkeleton"]').first.wait_for(state="detached", timeout=WAIT_MS)
    page.wait_for_timeout(700)


def go_to(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title).wait_for(timeout=WAIT_MS)
    settle(page)


def shoot(page: Page, name: str) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its main block, so the window
    is made as tall as that block for the picture."""
    OUT.mkdir(parents=True, exist_ok=True)
    settle(page)
    size = page.viewport_size or {"width": 1440, "height": 1600}
    block = page.get_by_test_id("stMainBlockContainer")
    bottom = "e => e.getBoundingClientRect().bottom + e.parentElement.scrollTop"
    height = int(block.evaluate(bottom))
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 120)})
    settle(page)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def send(page: Page, text: str, expect: str) -> float:
    """Send a chat message; seconds until the text ``expect`` is on screen."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    sent = time.perf_counter()
    box.press("Enter")
    page.get_by_text(expect).last.wait_for(timeout=WAIT_MS)
    return time.perf_counter() - sent


def new_customer(page: Page, customer: str) -> None:
    """A visitor types their customer id (only staff get the picker of known customers)."""
    box = page.get_by_label("Your customer id")
    box.fill(customer)
    box.press("Enter")
    page.get_by_text(f"remembered for {customer}").wait_for(timeout=WAIT_MS)
    settle(page)


def sign_in(page: Page, name: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=WAIT_MS)
    settle(page)


def cli(server_env: dict[str, str], *argv: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "support_core", *argv], cwd=ROOT, env=server_env,
                   input=stdin, text=True, check=True, capture_output=True)


