"""What the Team page lists, from a real user store and macro table."""

from __future__ import annotations

from pathlib import Path

from support_core import team_view
from support_core.macros import PLACEHOLDERS
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD, desk_service


def test_an_admin_may_disable_other_active_users_only(tmp_path: Path) -> None:
    svc = desk_service(make_settings(tmp_path / "data"))
    ada = svc.users.principal(svc.users.add("ada", "admin", PASSWORD).name)
    svc.users.add("bob", "agent", PASSWORD)
    svc.users.add("cy", "manager", PASSWORD)
    svc.staff_admin.disable(ada, "cy")
    everyone = svc.staff_admin.list(ada)
    assert team_view.disable_choices(everyone, "ada") == ["bob"]
    rows = team_view.user_rows(everyone)
    assert {r["name"]: r["active"] for r in rows} == {"ada": True, "bob": True, "cy": False}
    assert all("password" not in str(r) for r in rows)


def test_macro_rows_and_placeholder_help(tmp_path: Path) -> None:
    svc = desk_service(make_settings(tmp_path / "data"))
    max_ = svc.users.principal(svc.users.add("max", "manager", PASSWORD).name)
    svc.desk.save_macro("refund", "Hi {customer_name}", max_)
    assert team_view.macro_rows(svc.views.macros(max_)) == [
        {"name": "refund", "text": "Hi {customer_name}", "updated_by": "max"}]
    assert all(f"`{{{p}}}`" in team_view.placeholder_help() for p in PLACEHOLDERS)
