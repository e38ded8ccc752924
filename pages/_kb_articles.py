"""The knowledge base's Articles tab: what is indexed, an article's chunks, deleting one,
and the passages held out of search until an admin approves them."""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._auth import current_user
from pages._service import done, get_service
from support_core import display
from support_core.kb_view import article_labels, chunk_heading, flagged_line
from support_core.models import ArticleInfo


def flagged(kb: Any) -> None:
    """Passages that read as instructions to a model: out of search until an admin approves."""
    rows = kb.flagged_passages()
    st.markdown(f"**Flagged passages** ({len(rows)} held out of search)")
    if not rows:
        st.caption("None: no passage reads as instructions to a model.")
        return
    for r in rows:
        st.markdown(flagged_line(r))
        st.text(r["excerpt"])
        if st.button("Approve", key=f"approve_{r['chunk_id']}"):
            get_service().kb_admin.approve_passages(current_user(), r["chunk_id"])
            done(f"Approved {r['chunk_id']}; it is searchable now.")


def articles(infos: list[ArticleInfo]) -> None:
    if not infos:
        st.info(
            "No articles yet. Upload some in the Upload tab, or press **Load demo data** "
            "in the sidebar to load the sample knowledge base."
        )
        return
    st.dataframe(display.article_rows(infos), hide_index=True,
                 column_config={"link": st.column_config.LinkColumn()})
    titles = article_labels(infos)
    chosen = st.selectbox("Article", list(titles), format_func=titles.__getitem__, key="kb_article")
    with st.expander("Chunks of this article"):
        for c in get_service().kb.get_chunks(chosen):
            st.markdown(chunk_heading(c))
            st.text(c.text)
    delete(chosen, titles[chosen])


def delete(article_id: str, title: str) -> None:
    if st.button("Delete article…", icon=":material/delete:"):
        st.session_state.confirm_delete = article_id
    if st.session_state.get("confirm_delete") != article_id:
        return
    st.warning(f"Delete **{title}**? Customers will no longer get answers from it.")
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, delete", type="primary"):
        get_service().kb_admin.delete_article(current_user(), article_id)
        st.session_state.pop("confirm_delete")
        done(f"Deleted {title}.")
    if no.button("Cancel"):
        st.session_state.pop("confirm_delete")
        st.rerun()
