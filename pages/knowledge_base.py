"""Knowledge base: upload articles, see what is indexed, and try the search the AI uses.

Each uploaded file is ingested on its own, so one bad file never costs the others;
the result table says per file whether it was added, updated, unchanged or why it failed.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from pages._auth import current_user, require_staff
from pages._learning_ui import knowledge_gaps
from pages._ui import done, get_service, hits_table, run_page, show_error
from support_core import display
from support_core.access import Action
from support_core.errors import DeskpilotError
from support_core.models import ArticleInfo, IngestResult, IngestStatus

log = logging.getLogger("deskpilot.app")
TYPES = ["md", "markdown", "txt", "html", "htm", "pdf"]


def ingest_one(
    name: str, data: bytes, category: str | None, product: str | None, replace: bool = False
) -> IngestResult:
    try:
        return get_service().kb_admin.ingest_upload(
            current_user(), name, data, category, product, replace=replace)
    except DeskpilotError as exc:
        return IngestResult(source=name, status=IngestStatus.FAILED, error=exc.user_message)
    except Exception:  # noqa: BLE001 - one broken file must not stop the batch
        log.exception("Ingesting %s failed", name)
        reason = "unexpected error while reading it (details in the server log)"
        return IngestResult(source=name, status=IngestStatus.FAILED, error=reason)


def upload(categories: list[str], products: list[str]) -> None:
    st.session_state.setdefault("upload_round", 0)
    files = st.file_uploader(
        "Articles (Markdown, text, HTML or PDF)",
        type=TYPES,
        accept_multiple_files=True,
        key=f"files_{st.session_state.upload_round}",
        max_upload_size=get_service().settings.max_upload_mb,
    )
    left, right = st.columns(2)
    category = left.selectbox(
        "Category",
        categories,
        index=None,
        accept_new_options=True,
        placeholder="from the file, else general",
    )
    product = right.selectbox(
        "Product",
        products,
        index=None,
        accept_new_options=True,
        placeholder="from the file, else general",
    )
    replace = st.checkbox(
        "Replace existing articles with the same id",
        help="Without it, a file that would change an existing article is refused.",
    )
    if files:
        preview(files, category, product)
    if st.button("Ingest", type="primary", icon=":material/upload:", disabled=not files):
        bar = st.progress(0.0, text="Starting…")
        results = []
        for i, f in enumerate(files or []):
            bar.progress(
                i / len(files or [1]), text=f"Ingesting {f.name} ({i + 1}/{len(files or [])})"
            )
            results.append(ingest_one(f.name, f.getvalue(), category, product, replace))
        bar.progress(1.0, text="Done")
        st.session_state.ingest_results = results
        st.session_state.upload_round += 1  # clears the uploader for the next batch
        st.rerun()
    results: list[IngestResult] = st.session_state.get("ingest_results", [])
    if results:
        st.markdown(f"**Last upload:** {display.upload_summary(results)}")
        for r in results:
            if r.status is IngestStatus.FAILED:
                reason = (r.error or "").removeprefix(f"{r.source}: ")
                st.warning(f"**{r.source}** was not ingested: {reason}", icon=":material/block:")
        st.dataframe(display.upload_rows(results), hide_index=True)


def preview(files: list[Any], category: str | None, product: str | None) -> None:
    """What each file would do before anything is written: add, replace (with a diff), ..."""
    with st.expander("Preview what these files change", expanded=True):
        for f in files:
            p = get_service().kb.preview_upload(f.name, f.getvalue(), category, product)
            st.markdown(f"**{f.name}**: {p.action}" + (f" · {p.reason}" if p.reason else ""))
            if p.diff:
                st.code(p.diff, language="diff")
            for flag in p.flags:
                st.caption(f"will be held for approval: {flag}")


def flagged(kb: Any) -> None:
    """Passages that read as instructions to a model: out of search until an admin approves."""
    rows = kb.flagged_passages()
    st.markdown(f"**Flagged passages** ({len(rows)} held out of search)")
    if not rows:
        st.caption("None: no passage reads as instructions to a model.")
        return
    for r in rows:
        st.markdown(f"`{r['chunk_id']}` · {r['title']} · flags: {r['flags']}")
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
    titles = {a.article_id: f"{a.title} ({a.chunks} chunks)" for a in infos}
    chosen = st.selectbox("Article", list(titles), format_func=titles.__getitem__, key="kb_article")
    with st.expander("Chunks of this article"):
        for c in get_service().kb.get_chunks(chosen):
            st.markdown(f"**{c.position + 1}. {' › '.join(c.heading_path) or c.title}**")
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
    st.caption(
        f"{len(infos)} articles · {sum(a.chunks for a in infos)} chunks · "
        f"{len(cats)} categories · {len(prods)} products"
    )
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
