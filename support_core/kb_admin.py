"""Changes to the knowledge base on behalf of a signed-in admin.

The app's Knowledge base page writes only through this, so uploading or deleting an
article needs a principal whose role allows it (re-read from the user store), whatever the
page does. The CLI's ``ingest`` stays an operator tool with file-system access.
"""

from __future__ import annotations

from support_core.access import Action, Principal, require
from support_core.auth import UserStore
from support_core.kb.knowledge_base import KnowledgeBase
from support_core.models import IngestResult


class KnowledgeBaseAdmin:
    def __init__(self, kb: KnowledgeBase, users: UserStore) -> None:
        self.kb = kb
        self.users = users

    def _admin(self, who: Principal | None) -> Principal:
        if who is not None:
            who = self.users.principal(who.name)
        return require(who, Action.MANAGE_KB)

    def ingest_upload(
        self, who: Principal | None, name: str, data: bytes, category: str | None,
        product: str | None, *, replace: bool = False,
    ) -> IngestResult:  # fmt: skip
        self._admin(who)
        return self.kb.ingest_upload(name, data, category, product, replace=replace)

    def approve_passages(self, who: Principal | None, target: str) -> int:
        """Make a flagged passage (or all of an article's) searchable; admins only."""
        admin = self._admin(who)
        return self.kb.approve_passages(target, admin.name)

    def delete_article(self, who: Principal | None, article_id: str) -> None:
        self._admin(who)
        self.kb.delete_article(article_id)
