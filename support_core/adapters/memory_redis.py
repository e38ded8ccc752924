"""Conversation memory in Redis, for deployments with several app servers.

Semantics match ``SQLiteMemory`` exactly (one contract suite runs against both).
Keys of one customer share the hash tag ``{customer}`` so every multi-key
transaction stays on one slot, should the server ever be a cluster::

    <prefix>:memory:{<customer>}:session:<session>   list of Message JSON, PEXPIRE session_ttl
    <prefix>:memory:{<customer>}:sessions             set of that customer's session keys
    <prefix>:memory:{<customer>}:history              zset "<seq>:<Message JSON>" scored by
                                                      the message time in UTC microseconds
    <prefix>:memory:{<customer>}:seq                  counter making history members unique
    <prefix>:memory:{<customer>}:escalations          zset ticket_id scored by record time

History is windowed on read and pruned on write (``ZREMRANGEBYSCORE``): a TTL on the
whole key alone would keep a 91-day-old message alive while the customer keeps writing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from support_core.errors import BackendUnavailable
from support_core.memory import (
    Clock,
    check_limits,
    normalized,
    summarize,
    to_micros,
    to_micros_delta,
)
from support_core.models import CustomerSummary, Message, utcnow

SEQ_DIGITS = 12  # zero-padded so equal timestamps keep insertion order (members sort bytewise)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = re.sub(r"(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class RedisMemory:
    """``MemoryStore`` on a Redis server (``Settings.redis_url``)."""

    def __init__(
        self,
        url: str,
        session_ttl_seconds: float,
        history_ttl_days: float,
        history_max_messages: int,
        key_prefix: str = "support",
        clock: Clock | None = None,
    ) -> None:
        check_limits(session_ttl_seconds, history_ttl_days, history_max_messages)
        self.url = mask_url(url)
        self.key_prefix = key_prefix
        self.session_ttl_ms = to_micros_delta(timedelta(seconds=session_ttl_seconds)) // 1000
        self.history_ttl_us = to_micros_delta(timedelta(days=history_ttl_days))
        self.history_max = history_max_messages
        self._clock = clock or utcnow
        self._redis = self._connect(url)

    # --------------------------------------------------------------------------- plumbing
    def _connect(self, url: str) -> redis.Redis:
        """Lazy client (nothing is sent yet) with short timeouts and few retries, so a dead
        server is reported in well under a second instead of after redis-py's long backoff."""
        try:
            return redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=3,
                socket_timeout=10,
                retry=Retry(ExponentialBackoff(cap=0.25, base=0.025), retries=2),
            )
        except ValueError as exc:
            raise BackendUnavailable(f"The Redis URL {self.url} is not valid: {exc}") from exc

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BackendUnavailable(
                f"Redis at {self.url} is unreachable ({exc}). Start it or point"
                " SUPPORT_REDIS_URL at a running server."
            ) from exc

    def _key(self, customer_id: str, *rest: str) -> str:
        """Ids are percent-encoded so ':' or glob characters in them cannot collide."""
        tail = ":".join(quote(part, safe="") for part in rest)
        return f"{self.key_prefix}:memory:{{{quote(customer_id, safe='')}}}:{tail}"

    def _session_key(self, customer_id: str, session_id: str) -> str:
        return self._key(customer_id, "session", session_id)

    def _cutoff(self) -> int:
        """Oldest score (inclusive) still inside the history window."""
        return to_micros(self._clock()) - self.history_ttl_us

    # --------------------------------------------------------------------------- writes
    def add_message(self, customer_id: str, session_id: str, message: Message) -> None:
        stored = normalized(message)
        body, score = stored.model_dump_json(), to_micros(stored.timestamp)
        seq_key = self._key(customer_id, "seq")
        with self._guard():
            seq = int(self._redis.incr(seq_key))  # type: ignore[arg-type]
            pipe = self._redis.pipeline(transaction=True)
            self._append_to_session(pipe, customer_id, session_id, body)
            self._append_to_history(pipe, customer_id, f"{seq:0{SEQ_DIGITS}d}:{body}", score)
            pipe.pexpire(seq_key, self.history_ttl_us // 1000)
            pipe.execute()

    def _append_to_session(self, pipe: Any, customer_id: str, session_id: str, body: str) -> None:
        """The session list and the customer's session index both live session_ttl past
        the last message, so the index never outlives a session it lists."""
        session = self._session_key(customer_id, session_id)
        index = self._key(customer_id, "sessions")
        pipe.rpush(session, body)
        pipe.pexpire(session, self.session_ttl_ms)
        pipe.sadd(index, session)
        pipe.pexpire(index, self.session_ttl_ms)

    def _append_to_history(self, pipe: Any, customer_id: str, member: str, score: int) -> None:
        key = self._key(customer_id, "history")
        pipe.zadd(key, {member: score})
        pipe.zremrangebyscore(key, "-inf", f"({self._cutoff()}")  # left the window
        pipe.zremrangebyrank(key, 0, -(self.history_max + 1))  # beyond the cap
        pipe.pexpire(key, self.history_ttl_us // 1000)  # idle customers vanish entirely

    def record_escalation(self, customer_id: str, ticket_id: str) -> None:
        key, now = self._key(customer_id, "escalations"), to_micros(self._clock())
        with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            pipe.zadd(key, {ticket_id: now}, nx=True)  # idempotent: the first record wins
            pipe.zremrangebyscore(key, "-inf", f"({self._cutoff()}")
            pipe.pexpire(key, self.history_ttl_us // 1000)
            pipe.execute()

    def forget_customer(self, customer_id: str) -> None:
        """Delete every key of the customer; WATCH retries if a message lands meanwhile."""
        index = self._key(customer_id, "sessions")
        fixed = [index, *(self._key(customer_id, k) for k in ("history", "seq", "escalations"))]

        def delete_all(pipe: Any) -> None:
            sessions = pipe.smembers(index)
            pipe.multi()
            pipe.delete(*fixed, *sessions)

        with self._guard():
            self._redis.transaction(delete_all, index)

    # --------------------------------------------------------------------------- reads
    def get_session(self, customer_id: str, session_id: str) -> list[Message]:
        with self._guard():
            raw = self._redis.lrange(self._session_key(customer_id, session_id), 0, -1)
        return [Message.model_validate_json(body) for body in raw]  # type: ignore[union-attr]

    def get_history(self, customer_id: str, limit: int = 20) -> list[Message]:
        if limit <= 0:
            return []
        with self._guard():
            members = self._newest_members(self._redis, customer_id, min(limit, self.history_max))
        return _decode_members(members)

    def _newest_members(self, client: Any, customer_id: str, limit: int) -> Any:
        """Newest first, windowed and capped even if no write has pruned yet."""
        key = self._key(customer_id, "history")
        return client.zrevrangebyscore(key, "+inf", self._cutoff(), start=0, num=limit)

    def get_summary(self, customer_id: str) -> CustomerSummary:
        with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            self._newest_members(pipe, customer_id, self.history_max)
            pipe.zcount(self._key(customer_id, "escalations"), self._cutoff(), "+inf")
            members, escalations = pipe.execute()
        return summarize(customer_id, _decode_members(members), int(escalations))

    def ping(self) -> None:
        with self._guard():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()


def _decode_members(newest_first: list[str]) -> list[Message]:
    """History members are ``<seq>:<json>``; returned oldest first."""
    return [
        Message.model_validate_json(member.split(":", 1)[1]) for member in reversed(newest_first)
    ]
