"""Customer text renders inert: no links, no images, no HTML; every character still shown."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from support_core.safe_text import inert_markdown

RENDER = MarkdownIt("commonmark").enable("table").enable("strikethrough")
HOSTILE = [
    "![pixel](https://tracker.example/p.png?id=42)",
    "[click here](https://evil.example/login) to verify",
    "<img src=x onerror=alert(1)> <script>alert(1)</script>",
    "<a href='https://evil.example'>support</a>",
    "**bold** _it_ # heading\n> quote\n- item",
    "see www.evil.example and mailto:x@evil.example",
    "[ref]: https://evil.example\n[ref]",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "price $5 and $6, :red[colour] :material/home:",
    "`code` and ``` fence",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_customer_text_renders_as_text(text: str) -> None:
    out = RENDER.render(inert_markdown(text))
    assert "<a " not in out and "<img" not in out and "<script" not in out
    assert "<h1" not in out and "<strong>" not in out and "<table" not in out
    shown = html.unescape(re.sub(r"<[^>]+>", "", out))
    for word in re.findall(r"[A-Za-z0-9]{3,}", text):
        assert word in shown  # nothing the customer wrote is lost
