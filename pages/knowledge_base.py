"""Knowledge base: upload articles, see what is indexed, and try the search the AI uses.

Each uploaded file is ingested on its own, so one bad file never costs the others;
the result table says per file whether it was added, updated, unchanged or why it failed.
"""

from __future__ import annotations

import streamlit as st

from pages._auth import require_staff
from pages._gaps import knowledge_gaps
from pages._kb_articles import articles, flagged
from pages._kb_upload import upload
from pages._service import get_service, show_error
from pages._ui import hits_table, run_page
from support_core.access import Action
from support_core.errors import DeskpilotError
from support_core.kb_view import kb_summary


def playground(categories: list[str], products: list[str]) -> None:
    query = st.text_input("Search query", placeholder="e.g. how do I get a refund?", key="kb_query")
    cols = st.columns([2, 2, 2, 1])
    category = cols[0].selectbox(
        "Category", categories, index=None, placeholder="all", key="kb_cat"
    )
    product = cols[1].selectbox("Product", products, index=None, placeholder="all", key="kb_prod")
    mode = (
        cols[2].segmented_control(
            "Retriever", ["hybrid", "dense", "bm25"], default="hybrid", key="kb_mode"
        )
        or "hybrid"
    )
    k = cols[3].number_input("Results", 1, 20, 5, key="kb_k")
    if not query.strip():
        st.caption("Type a query to see each hit's dense, keyword and fused scores.")
        return
    hits = get_service().kb.search(query, category=category, product=product, k=int(k), mode=mode)
    if not hits:
        st.info("No matching chunks. Try fewer filters or other words.")
        return
    hits_table(hits)
    with st.expander(f"Top hit in full: {hits[0].title}"):
        st.text(hits[0].text)


def main() -> None:
    svc = get_service()
    st.title("Knowledge base")
    require_staff(Action.MANAGE_KB, "the knowledge-base admin")
    infos = svc.kb.list_articles()
    cats, prods = svc.kb.categories(), svc.kb.products()
    st.caption(kb_summary(infos, cats, prods))
    tab_articles, tab_upload, tab_search = st.tabs(
        ["Articles", "Upload", "Search playground"], default="Articles" if infos else "Upload"
    )
    with tab_upload:
        upload(cats, prods)
    with tab_articles:
        try:
            articles(infos)
            flagged(svc.kb)
        except DeskpilotError as exc:
            show_error(exc)
    with tab_search:
        try:
            playground(cats, prods)
        except DeskpilotError as exc:
            show_error(exc)
    knowledge_gaps()


run_page(main)
