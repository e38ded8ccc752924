"""What the Team page lists: the macros, the users, and whom an admin may disable."""

from __future__ import annotations

from typing import Any

from support_core.auth import UserInfo
from support_core.desk_records import Macro
from support_core.macros import PLACEHOLDERS


def placeholder_help() -> str:
    return ("Placeholders: " + ", ".join(f"`{{{p}}}`" for p in PLACEHOLDERS)
            + ". An agent inserts a macro into the reply box and edits it before sending.")


def macro_rows(macros: list[Macro]) -> list[dict[str, Any]]:
    return [m.model_dump(include={"name", "text", "updated_by"}) for m in macros]


def user_rows(users: list[UserInfo]) -> list[dict[str, Any]]:
    return [u.model_dump(include={"name", "role", "active", "can_sign_in"}) for u in users]


def disable_choices(users: list[UserInfo], me: str) -> list[str]:
    """Active users other than the admin doing it (nobody locks themselves out)."""
    return [u.name for u in users if u.active and u.name != me]
