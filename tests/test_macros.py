"""Macro templates: checked when saved, filled when used."""

from __future__ import annotations

import pytest

from support_core.errors import InputError
from support_core.macros import check_template, render


def test_known_placeholders_fill_and_literal_braces_survive() -> None:
    text = "Hi {customer_name}, ticket {ticket_id} ({agent_name}): {article_link} {{ok}}"
    assert render(text, {"customer_name": "Ann", "ticket_id": "t1", "agent_name": "Bo",
                         "article_link": "https://x"}) == "Hi Ann, ticket t1 (Bo): https://x {ok}"


@pytest.mark.parametrize(
    ("template", "needle"),
    [("Hi {name}", "{name}"), ("Hi {customer_name!r}", "{customer_name}"),
     ("Hi {customer_name:>9}", "{customer_name}"), ("Hi {", "unbalanced"), ("  ", "needs")],
)  # fmt: skip
def test_bad_templates_are_refused_with_one_line(template: str, needle: str) -> None:
    with pytest.raises(InputError) as err:
        check_template(template)
    assert needle in str(err.value) and "\n" not in str(err.value)
