"""The knowledge base's Upload tab: pick files, preview what they change, ingest them.

The batch (file by file, a failure per file, progress) runs in ``support_core.kb_view``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._auth import current_user
from pages._service import get_service
from support_core import display
from support_core.kb_view import UPLOAD_TYPES, ingest_batch, preview_line
from support_core.models import IngestResult


def upload(categories: list[str], products: list[str]) -> None:
    svc = get_service()
    st.session_state.setdefault("upload_round", 0)
    files = st.file_uploader(
        "Articles (Markdown, text, HTML or PDF)",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"files_{st.session_state.upload_round}",
        max_upload_size=svc.settings.max_upload_mb,
    )
    left, right = st.columns(2)
    category = left.selectbox("Category", categories, index=None, accept_new_options=True,
                              placeholder="from the file, else general")  # fmt: skip
    product = right.selectbox("Product", products, index=None, accept_new_options=True,
                              placeholder="from the file, else general")  # fmt: skip
    replace = st.checkbox(
        "Replace existing articles with the same id",
        help="Without it, a file that would change an existing article is refused.",
    )
    if files:
        preview(files, category, product)
    if st.button("Ingest", type="primary", icon=":material/upload:", disabled=not files):
        bar = st.progress(0.0, text="Starting…")
        st.session_state.ingest_results = ingest_batch(
            svc.kb_admin, current_user(), [(f.name, f.getvalue()) for f in files or []],
            category, product, replace, progress=lambda share, text: bar.progress(share, text),
        )  # fmt: skip
        st.session_state.upload_round += 1  # clears the uploader for the next batch
        st.rerun()
    results: list[IngestResult] = st.session_state.get("ingest_results", [])
    if results:
        st.markdown(f"**Last upload:** {display.upload_summary(results)}")
        for line in display.upload_failures(results):
            st.warning(line, icon=":material/block:")
        st.dataframe(display.upload_rows(results), hide_index=True)


def preview(files: list[Any], category: str | None, product: str | None) -> None:
    """What each file would do before anything is written: add, replace (with a diff), ..."""
    with st.expander("Preview what these files change", expanded=True):
        for f in files:
            p = get_service().kb.preview_upload(f.name, f.getvalue(), category, product)
            st.markdown(preview_line(f.name, p))
            if p.diff:
                st.code(p.diff, language="diff")
            for flag in p.flags:
                st.caption(f"will be held for approval: {flag}")
