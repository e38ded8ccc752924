"""Who may do what on the desk: three staff roles, each including the one below.

``agent``   works the inbox: claim, reply, resolve, write internal notes.
``manager`` agent + metrics, replay, reassign/release others' tickets, manage macros.
``admin``   everything + the knowledge base and the users.

The services (``AgentDesk``, :mod:`support_core.views`, the KB and metrics entry points)
call :func:`require` with the caller's :class:`Principal`, so a page that forgets a check
still cannot act: it gets :class:`~support_core.errors.AccessDenied`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from support_core.errors import AccessDenied, SignInRequired


class StaffRole(str, Enum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {StaffRole.AGENT: 1, StaffRole.MANAGER: 2, StaffRole.ADMIN: 3}


class Action(str, Enum):
    """Everything a role gates; the value is the phrase used in the refusal."""

    WORK_INBOX = "work the inbox"
    READ_TICKETS = "read tickets"
    VIEW_METRICS = "see the metrics"
    REASSIGN = "reassign or release another agent's ticket"
    MANAGE_MACROS = "manage macros"
    MANAGE_KB = "change the knowledge base"
    MANAGE_USERS = "manage users"


MINIMUM_ROLE: dict[Action, StaffRole] = {
    Action.WORK_INBOX: StaffRole.AGENT,
    Action.READ_TICKETS: StaffRole.AGENT,
    Action.VIEW_METRICS: StaffRole.MANAGER,
    Action.REASSIGN: StaffRole.MANAGER,
    Action.MANAGE_MACROS: StaffRole.MANAGER,
    Action.MANAGE_KB: StaffRole.ADMIN,
    Action.MANAGE_USERS: StaffRole.ADMIN,
}


@dataclass(frozen=True)
class Principal:
    """A signed-in (or CLI-named, existing and active) staff member."""

    name: str
    role: StaffRole

    def can(self, action: Action) -> bool:
        return self.role.rank >= MINIMUM_ROLE[action].rank


def require(principal: Principal | None, action: Action) -> Principal:
    """Return the principal when their role allows ``action``; raise a typed error otherwise."""
    if principal is None:
        raise SignInRequired(f"Sign in to {action.value}.")
    if not principal.can(action):
        needed = MINIMUM_ROLE[action].value
        raise AccessDenied(
            f"{principal.name} is a {principal.role.value}; only a {needed} or above may "
            f"{action.value}."
        )
    return principal


def role_gate(principal: Principal, action: Action, what: str) -> str | None:
    """What a signed-in user is told when their role is below ``action``'s; None: let in."""
    if principal.can(action):
        return None
    return (f"You are signed in as {principal.name} ({principal.role.value}); {what} needs a "
            f"{MINIMUM_ROLE[action].value} account or above.")
