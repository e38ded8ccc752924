"""What a backend holds, read raw (not through the app), for tests that look for leaked values."""

from __future__ import annotations


def redis_values(url: str, pattern: str) -> str:
    """Every value of every Redis key matching ``*pattern*``, concatenated; the keys are deleted
    after reading (each test uses its own customer id)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"*{pattern}*"))
    assert keys, f"no Redis key holds {pattern!r}"
    out = b""
    for k in keys:
        kind = client.type(k)
        if kind == b"string":
            out += client.get(k) or b""
        elif kind == b"list":
            out += b"".join(client.lrange(k, 0, -1))
        elif kind == b"zset":
            out += b"".join(client.zrange(k, 0, -1))
        elif kind == b"set":
            out += b"".join(client.smembers(k))
        elif kind == b"hash":
            out += b"".join(a + b for a, b in client.hgetall(k).items())
    client.delete(*keys)
    return out.decode("utf-8", "replace")
