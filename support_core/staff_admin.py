"""Staff accounts changed on behalf of a signed-in admin.

The app's Team page manages users only through this, so adding, listing or disabling a user
needs a principal whose role allows it (re-read from the user store: a disabled or demoted
admin is refused at once), whatever the page does. The CLI's ``users`` commands stay operator
tools with access to the server, as ``ingest`` does for the knowledge base.
"""

from __future__ import annotations

from support_core.access import Action, Principal, StaffRole, require
from support_core.auth import UserInfo, UserStore
from support_core.errors import InputError


class StaffAdmin:
    def __init__(self, users: UserStore) -> None:
        self.users = users

    def _admin(self, who: Principal | None) -> Principal:
        if who is not None:
            who = self.users.principal(who.name)
        return require(who, Action.MANAGE_USERS)

    def list(self, who: Principal | None) -> list[UserInfo]:
        self._admin(who)
        return self.users.list()

    def add(
        self, who: Principal | None, name: str, role: StaffRole | str, password: str
    ) -> UserInfo:
        self._admin(who)
        return self.users.add(name, role, password)

    def disable(self, who: Principal | None, name: str) -> UserInfo:
        admin = self._admin(who)
        if name.strip() == admin.name:
            raise InputError("You cannot disable your own account; ask another admin.")
        return self.users.disable(name)
