"""User administration is enforced in the core: only an active admin manages staff."""

from __future__ import annotations

from pathlib import Path

import pytest

from support_core.access import Principal, StaffRole
from support_core.errors import AccessDenied, InputError, SignInRequired
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD, desk_service


@pytest.fixture
def svc(tmp_path: Path):  # type: ignore[no-untyped-def]
    service = desk_service(make_settings(tmp_path / "data"))
    for name, role in (("ana", "agent"), ("max", "manager"), ("root", "admin")):
        service.users.add(name, role, PASSWORD)
    return service


def test_an_admin_adds_lists_and_disables_users(svc) -> None:  # type: ignore[no-untyped-def]
    root = svc.users.principal("root")
    svc.staff_admin.add(root, "cleo", "agent", PASSWORD)
    assert "cleo" in {u.name for u in svc.staff_admin.list(root)}
    svc.staff_admin.disable(root, "cleo")
    with pytest.raises(SignInRequired):
        svc.users.principal("cleo")
    with pytest.raises(InputError, match="own account"):
        svc.staff_admin.disable(root, "root")


@pytest.mark.parametrize("name", ["ana", "max"])
def test_agents_and_managers_cannot_manage_users(svc, name: str) -> None:  # type: ignore[no-untyped-def]
    who = svc.users.principal(name)
    with pytest.raises(AccessDenied):
        svc.staff_admin.add(who, "eve", "admin", PASSWORD)
    with pytest.raises(AccessDenied):
        svc.staff_admin.disable(who, "ana")
    with pytest.raises(AccessDenied):
        svc.staff_admin.list(who)
    assert "eve" not in {u.name for u in svc.users.list()}


def test_a_forged_or_disabled_admin_is_refused(svc) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignInRequired):  # a Principal the user store does not know
        svc.staff_admin.add(Principal("mallory", StaffRole.ADMIN), "eve", "admin", PASSWORD)
    with pytest.raises(AccessDenied):  # the role is re-read: a made-up "admin" ana is an agent
        svc.staff_admin.list(Principal("ana", StaffRole.ADMIN))
    svc.users.add("old", "admin", PASSWORD)
    old = svc.users.principal("old")
    svc.staff_admin.disable(svc.users.principal("root"), "old")
    with pytest.raises(SignInRequired):
        svc.staff_admin.list(old)
    with pytest.raises(SignInRequired):
        svc.staff_admin.list(None)
