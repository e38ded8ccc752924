"""Demo data: a scripted week of customers so every page has something to show.

Everything it creates is flagged ``is_demo`` (tickets, handoffs; ratings and events by ticket)
and uses customer ids starting with ``demo-``, so ``remove_demo`` takes exactly it
away again. Loading twice does nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from support_core.access import StaffRole
from support_core.models import shifted_clock

if TYPE_CHECKING:
    from support_core.wiring import Service

Progress = Callable[[int, int, str], None]
AGENT = "demo-agent"


@dataclass
class Scene:
    """One customer contact: messages in one session, then what happens next."""

    customer: str
    session: str
    days_ago: float
    messages: list[str]
    agent_reply: str | None = None  # a human answers (claims, replies, resolves)
    confirm: bool = False  # the customer says the auto-reply solved it
    rating: int | None = None
    comment: str = ""
    tags: list[str] = field(default_factory=list)


SCENES: list[Scene] = [
    Scene(
        "demo-alice",
        "s1",
        6.2,
        ["How do I rotate my API key without downtime?"],
        confirm=True,
        rating=5,
        comment="Quick and clear.",
    ),
    Scene(
        "demo-bob",
        "s1",
        5.5,
        [
            "This is the third time I'm writing. You charged me twice for the Team plan this "
            "month and nobody has fixed it!!! I want my money back now."
        ],
        agent_reply="I'm sorry about the double charge, Bob. I've refunded the duplicate "
        "payment; it will reach your card in 5-10 business days.",
        rating=4,
    ),
    Scene("demo-carol", "s1", 9.0, ["Our webhooks keep failing with WH-104. How do I fix it?"]),
    Scene(
        "demo-carol",
        "s2",
        4.0,
        ["The webhook deliveries are still failing after I followed the steps."],
    ),
    Scene(
        "demo-carol",
        "s3",
        1.1,
        [
            "I understand you're busy, but this is my fourth contact about the failing "
            "webhooks. They still don't arrive."
        ],
        agent_reply="Carol, I've looked at your endpoint logs: deliveries time out after 10 "
        "seconds. Respond with 200 first and process the event in the background; I've "
        "replayed the failed events for you.",
        rating=5,
    ),
    Scene(
        "demo-dana",
        "s1",
        3.0,
        [
            "I have been waiting two weeks for a refund that your agent promised me last month. "
            "I am considering filing a complaint with the consumer protection bureau."
        ],
        agent_reply="Dana, I apologise for the delay. Your refund was issued today and you "
        "will receive a confirmation email within the hour.",
        rating=3,
        comment="Took far too long.",
    ),
    Scene(
        "demo-erin",
        "s1",
        2.5,
        ["How can I invite teammates and set their roles?"],
        confirm=True,
        rating=5,
    ),
    Scene(
        "demo-farid",
        "s1",
        2.0,
        ["What happens when I downgrade from Business to Team?"],
        confirm=True,
        rating=4,
    ),
    Scene(
        "demo-gwen",
        "s1",
        1.5,
        ["I lost my phone with my 2FA app. How do I get back into my account?"],
        confirm=True,
        rating=4,
    ),
    Scene("demo-hugo", "s1", 0.8, ["Do you sell gift cards for the holiday season?"]),
    Scene(
        "demo-ivy",
        "s1",
        0.3,
        [
            "THIS IS RIDICULOUS!!! The app has been down all morning "
            "and my whole team is blocked. Fix it ASAP!"
        ],
    ),
    Scene("demo-jon", "s1", 0.1, ["How do I set up SSO with SAML for my workspace?"]),
]


def is_loaded(svc: Service) -> bool:
    return any(t.is_demo for t in svc.store.list_tickets(customer_id="demo-alice"))


def load_demo(svc: Service, progress: Progress | None = None) -> str:
    """Ingest the sample KB if the KB is empty, then replay the scenes. Idempotent."""
    if is_loaded(svc):
        return "Demo data is already loaded."
    if not svc.kb.list_articles():
        _note(progress, 0, len(SCENES), "Loading the sample knowledge base")
        svc.kb.ingest_paths([svc.settings.kb_dir])
    svc.users.ensure_account(AGENT, StaffRole.AGENT)  # cannot sign in; demo replies only
    for i, scene in enumerate(SCENES, 1):
        _note(progress, i, len(SCENES), f"{scene.customer}: {scene.messages[0][:50]}")
        _play(svc, scene)
    return f"Loaded {len(SCENES)} demo conversations (customers demo-*)."


def remove_demo(svc: Service) -> str:
    demo_handoffs = {h.handoff_id for h in svc.store.list_handoffs() if h.is_demo}
    deleted = svc.store.delete_demo_data()
    deleted["desk_events"] = svc.records.delete_events(demo_handoffs)
    for customer in {s.customer for s in SCENES}:
        svc.memory.forget_customer(customer)
    return f"Removed demo data ({sum(deleted.values())} rows)."


def _play(svc: Service, scene: Scene) -> None:
    start = timedelta(days=-scene.days_ago)
    with shifted_clock(start):
        for text in scene.messages:
            result = svc.pipeline.process_message(scene.customer, scene.session, text, is_demo=True)
    ticket_id = result.ticket.ticket_id
    with shifted_clock(start + timedelta(minutes=7)):
        if scene.confirm and result.action == "auto_reply":
            svc.desk.customer_confirms(ticket_id)
        if scene.agent_reply and result.handoff_id:
            svc.desk.claim(result.handoff_id, AGENT)
    with shifted_clock(start + timedelta(minutes=25)):
        if scene.agent_reply and result.handoff_id:
            svc.desk.reply(result.handoff_id, AGENT, scene.agent_reply)
    with shifted_clock(start + timedelta(minutes=50)):
        if scene.agent_reply and result.handoff_id:
            svc.desk.resolve(result.handoff_id, AGENT, "Resolved in demo")
        if scene.rating and svc.store.get_ticket(ticket_id).status.value == "resolved":
            svc.desk.rate(ticket_id, scene.rating, scene.comment)


def _note(progress: Progress | None, i: int, n: int, what: str) -> None:
    if progress is not None:
        progress(i, n, what)


def autoload_sample_kb(svc: Service) -> str | None:
    """On a first start with an empty knowledge base, load the sample one (a setting turns
    this off); returns the notice to show, or None when nothing was loaded."""
    kb_dir = svc.settings.kb_dir
    if not svc.settings.sample_kb_autoload or not kb_dir.is_dir() or svc.kb.list_articles():
        return None
    results = svc.kb.ingest_paths([kb_dir])
    added = sum(r.status.value != "failed" for r in results)
    return (
        f"The knowledge base was empty, so the {added} sample articles from `{kb_dir}` were "
        "loaded to answer from. Replace them on the Knowledge base page; set "
        "SUPPORT_SAMPLE_KB_AUTOLOAD=false to start empty."
    )
