"""Knowledge gaps on the Knowledge base page: questions people had to answer, grouped, with
a publish preview per open gap (the grouping and publishing are ``support_core.learning``)."""

from __future__ import annotations

import streamlit as st

from pages._service import done, get_service, show_error
from support_core.errors import DeskpilotError
from support_core.learning import gap_view
from support_core.learning.records import Gap, GapStatus


def knowledge_gaps() -> None:
    """Questions people had to answer, grouped, with a publish preview per open gap."""
    st.subheader("Knowledge gaps")
    st.caption("Resolved tickets where the AI could not answer, or the agent discarded or "
               "heavily edited its draft, grouped by similar question.")
    try:
        gaps = get_service().learning.gaps()
    except DeskpilotError as exc:
        show_error(exc)
        return
    if not gaps:
        st.info("No knowledge gaps yet: they appear when agents resolve tickets the AI "
                "could not answer.")
        return
    show_closed = st.toggle("Show published and dismissed gaps", key="gaps_closed")
    for gap in gap_view.visible(gaps, show_closed):
        _gap_card(gap)


def _gap_card(gap: Gap) -> None:
    with st.expander(gap_view.label(gap), expanded=gap.status is GapStatus.OPEN):
        st.markdown(gap_view.questions_markdown(gap))
        st.markdown("**Agents answered**")
        for answer in gap.agent_answers:
            st.markdown(f"> {answer}")
        if gap.status is not GapStatus.OPEN:
            st.caption(gap_view.closed_caption(gap))
            return
        title = st.text_input("Article title", gap.suggested_title, key=f"gap_title_{gap.gap_id}")
        body = st.text_area("Answer (edit before publishing)",
                            gap_view.draft_body(gap),
                            key=f"gap_body_{gap.gap_id}", height=140)
        with st.container(border=True):
            st.caption("Preview of the article")
            st.markdown(gap_view.preview(gap, title, body))
        row = st.container(horizontal=True)
        if row.button("Publish as article", key=f"gap_publish_{gap.gap_id}", type="primary",
                      icon=":material/publish:"):
            try:
                _, article_id = get_service().learning.publish(gap.gap_id, title=title, body=body)
            except DeskpilotError as exc:
                show_error(exc)
                return
            done(f"Published “{title}” as article {article_id}.")
        if row.button("Dismiss", key=f"gap_dismiss_{gap.gap_id}"):
            get_service().learning.dismiss(gap.gap_id)
            done("Gap dismissed.")
