"""Multi-turn conversations through the real pipeline, on both memory backends.

Each scenario is a short conversation a new user could have in the browser; the
assertions cover what the customer sees (the reply's opening) and what the agent gets
(action, queue, priority, reason, sentiment trail). Real SQLite, Chroma, embeddings, the
learned frustration model, and real Redis (``SUPPORT_TEST_REDIS_URL``, db 15 by default).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from support_core.models import Priority, Queue, Role, SentimentLevel, shifted_clock
from support_core.responder import INTRO_PASSAGES, INTRO_STEPS
from support_core.tone import ACK_DEFAULT, ACK_FRUSTRATED, GREETING_ANONYMOUS, after_comma

pytestmark = pytest.mark.slow

ANGRY = ("This is absolutely unacceptable. Your update broke our Slack integration, my team "
         "lost a whole day and I'm furious. Fix it NOW!")
NEGATIVE = (SentimentLevel.FRUSTRATED, SentimentLevel.ANGRY, SentimentLevel.URGENT)
REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["sqlite", "redis"])
def desk(request: pytest.FixtureRequest, service_factory: Callable[..., Any]) -> Iterator[Any]:
    """A service whose memory is SQLite or a real Redis server, and a fresh customer id."""
    if request.param == "redis":
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); start it with "
                        ".ci/start-redis.sh")
        svc = service_factory(redis_url=REDIS_URL)
    else:
        svc = service_factory()
    customer = f"conv-{request.param}-{uuid.uuid4().hex[:8]}"
    svc.customer = customer
    yield svc
    if request.param == "redis":
        svc.memory.forget_customer(customer)


def opening(text: str) -> str:
    """A reply's one opening line."""
    return text.split("\n", 1)[0]


def test_angry_then_asks_for_a_person(desk: Any) -> None:
    first = desk.pipeline.process_message(desk.customer, "s1", ANGRY)
    s1 = first.ticket.sentiment
    assert s1.level in NEGATIVE and s1.frustration_score >= 0.55
    if first.action == "auto_reply":
        assert ACK_FRUSTRATED in opening(first.message)
    second = desk.pipeline.process_message(desk.customer, "s1", "I want to talk to a human")
    s2 = second.ticket.sentiment
    assert second.action == "escalated"
    # The mood is carried, not reset to neutral 0.00: above what the words alone say, and
    # not below the learned session model's floor (mood_floor_decay x the previous mood).
    floor_decay = desk.pipeline.s.sentiment.model.mood_floor_decay
    assert floor_decay > 0
    assert s2.frustration_score >= floor_decay * s1.frustration_score - 1e-4
    assert s2.frustration_score > (s2.message_score or 0.0)
    assert s2.level in NEGATIVE
    assert "asked_for_human" in s2.signals
    assert [round(s.frustration_score, 3) for s in second.ticket.sentiment_trail][-2:] == [
        round(s1.frustration_score, 3), round(s2.frustration_score, 3)]
    handoff = desk.store.active_handoff(first.ticket.ticket_id)
    assert handoff is not None
    assert round(handoff.sentiment_trail[-1].frustration_score, 3) == round(
        s2.frustration_score, 3)
    assert "knowledge-base gap" not in handoff.suggested_action
    if first.action == "auto_reply":  # the request for a person decides, by the mood
        decision = second.ticket.escalation
        assert decision.rule == "asked_for_human"
        assert decision.reason.startswith("Customer asked to talk to a person")
        assert (decision.queue, decision.priority) == (Queue.TIER2, Priority.HIGH)
    else:  # already with a person: the request joins that handoff
        assert second.ticket.ticket_id == first.ticket.ticket_id
        assert handoff.conversation[-1].content == "I want to talk to a human"


def test_a_calm_customer_who_asks_for_a_person_is_escalated_with_that_reason(desk: Any) -> None:
    result = desk.pipeline.process_message(desk.customer, "s1",
                                           "Could I talk to a real person, please?")
    decision = result.ticket.escalation
    assert result.action == "escalated"
    assert decision.rule == "asked_for_human"
    assert decision.reason.startswith("Customer asked to talk to a person")
    assert (decision.queue, decision.priority) == (Queue.TIER1, Priority.MEDIUM)
    handoff = desk.store.get_handoff(result.handoff_id)
    assert "knowledge-base gap" not in handoff.suggested_action


def test_angry_customer_asking_for_a_person_outranks_tier1_medium(desk: Any) -> None:
    result = desk.pipeline.process_message(
        desk.customer, "s1", "I'm furious, this is the worst service ever. Get me a human now.")
    decision = result.ticket.escalation
    assert decision.rule == "asked_for_human"
    assert decision.queue == Queue.TIER2 and decision.priority in (Priority.HIGH,
                                                                   Priority.CRITICAL)


def test_neutral_how_to_question_gets_no_empathy(desk: Any) -> None:
    result = desk.pipeline.process_message(desk.customer, "s1", "How do I cancel my subscription?")
    s = result.ticket.sentiment
    assert s.level in (SentimentLevel.NEUTRAL, SentimentLevel.POSITIVE)
    assert s.frustration_score < 0.4 and "threatening_churn" not in s.signals
    assert result.action == "auto_reply"
    lead_ins = (INTRO_PASSAGES, INTRO_STEPS.format(n=1))  # greeted, then straight to the answer
    assert opening(result.message) in {f"{GREETING_ANONYMOUS} {after_comma(x)}" for x in lead_ins}
    assert "frustrating" not in result.message


def test_follow_up_after_a_good_answer_is_not_greeted_again(desk: Any) -> None:
    first = desk.pipeline.process_message(desk.customer, "s1", "How do I rotate my API key?")
    assert first.action == "auto_reply" and first.message.startswith(GREETING_ANONYMOUS)
    second = desk.pipeline.process_message(desk.customer, "s1",
                                           "Thanks! And how do I set up webhooks?")
    assert second.action == "auto_reply"
    assert not second.message.startswith("Hi ")
    assert after_comma(ACK_DEFAULT) not in second.message and ACK_FRUSTRATED not in second.message
    trail = second.ticket.sentiment_trail
    assert len(trail) == 2 and all(s.level not in NEGATIVE for s in trail)


def test_polite_repeat_contact_is_acknowledged_once(desk: Any) -> None:
    question = "Could you help me verify the signatures on webhook deliveries, please?"
    with shifted_clock(-timedelta(days=5)):
        desk.pipeline.process_message(desk.customer, "s1", question)
    second = desk.pipeline.process_message(desk.customer, "s2", "Hello again. " + question)
    assert second.ticket.sentiment.message_score < 0.4
    assert second.ticket.contact_count == 2
    assert "2nd contact" in second.message
    assert ACK_FRUSTRATED not in second.message  # polite: no frustration template
    if second.action == "auto_reply":
        third = desk.pipeline.process_message(desk.customer, "s2",
                                              "Thanks. Where do I find the signing secret?")
        assert "contact about this" not in third.message  # acknowledged once per session
        assert not third.message.startswith("Hi ")


def test_calm_message_after_an_angry_one_lowers_the_mood_gradually(desk: Any) -> None:
    first = desk.pipeline.process_message(desk.customer, "s1", ANGRY)
    second = desk.pipeline.process_message(desk.customer, "s1", "Ok, thank you.")
    third = desk.pipeline.process_message(desk.customer, "s1", "Sure, that is fine.")
    f1, f2, f3 = (r.ticket.sentiment.frustration_score for r in (first, second, third))
    floor_decay = desk.pipeline.s.sentiment.model.mood_floor_decay
    assert f1 > f2 and f1 > f3  # falls after the angry turn
    # ... gradually, not reset: never below the floor decay, above what the calm words say
    assert f2 >= floor_decay * f1 - 1e-4 and f3 >= floor_decay * f2 - 1e-4 and f3 > 0.0
    assert second.ticket.sentiment.message_score < 0.4  # the message itself is calm
    assert f2 > second.ticket.sentiment.message_score
    upset = desk.pipeline.s.sentiment.thresholds.frustrated_score
    for result in (second, third):  # an upset level is never shown with a calm score
        sentiment = result.ticket.sentiment
        if sentiment.level in (SentimentLevel.ANGRY, SentimentLevel.FRUSTRATED):
            assert sentiment.frustration_score >= upset
    assert any("Mood carried" in r for r in second.ticket.sentiment.reasons)
    handoff = desk.store.active_handoff(first.ticket.ticket_id)
    assert handoff is not None
    assert [round(s.frustration_score, 3) for s in handoff.sentiment_trail][-3:] == [
        round(f, 3) for f in (f1, f2, f3)]
    session = desk.memory.get_session(desk.customer, "s1")
    assert [m.role for m in session].count(Role.CUSTOMER) == 3


def test_an_uncovered_follow_up_is_not_answered_from_the_article_in_view(desk: Any) -> None:
    """The article of the last answer stays in view for follow-ups, but a follow-up it does
    not cover gets "not covered" and a person, not a quote from that article."""
    first = desk.pipeline.process_message(desk.customer, "s1", "How do I rotate my API key?")
    assert first.action == "auto_reply" and first.ticket.draft.answered
    in_view = {s.article_id for s in first.ticket.draft.sources}
    second = desk.pipeline.process_message(
        desk.customer, "s1", "And can I pay my Orbitly invoice with cryptocurrency like bitcoin?")
    assert second.action == "escalated"
    assert second.ticket.escalation.rule == "low_confidence"
    assert not second.ticket.draft.answered
    assert second.ticket.draft.confidence < desk.settings.confidence_floor
    assert not in_view & {s.article_id for s in second.ticket.draft.sources}  # no quote
    session = desk.memory.get_session(desk.customer, "s1")
    assert [m.role for m in session].count(Role.CUSTOMER) == 2  # both turns kept


def test_frustration_threshold_setting_reaches_the_handoff(service_factory: Any) -> None:
    text = "I am annoyed, the CSV export keeps timing out. Can someone call me?"
    low = service_factory(frustration_threshold=0.05)
    high = service_factory(frustration_threshold=0.99)
    a = low.pipeline.process_message("thr-a", "s1", text)
    b = high.pipeline.process_message("thr-b", "s1", text)
    assert a.action == b.action == "escalated"
    pa, pb = (svc.store.get_handoff(r.handoff_id) for svc, r in ((low, a), (high, b)))
    assert "empathy" in pa.suggested_action and "empathy" not in pb.suggested_action
