"""A throw-away PostgreSQL database for tests and benchmarks.

``fresh_database()`` creates ``deskpilot_test_<random>`` through the ``postgres`` maintenance
database on ``SUPPORT_TEST_POSTGRES_URL`` (default ``postgresql://127.0.0.1:5432/postgres``,
trust auth as the OS user, else as ``postgres``) and drops it afterwards. A missing server
raises: PostgreSQL tests fail, they never skip.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

DEFAULT_ADMIN_URL = "postgresql://127.0.0.1:5432/postgres"


def admin_url() -> str:
    """A URL to the maintenance database that accepts us (the OS user first, then postgres)."""
    import psycopg

    base = os.environ.get("SUPPORT_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
    parts = urlsplit(base)
    if parts.username:
        return base
    problems = []
    for user in dict.fromkeys([getpass.getuser(), "postgres"]):
        url = urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc}"))
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return url
        except psycopg.Error as exc:
            problems.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    raise RuntimeError(
        f"PostgreSQL does not accept connections at {base} ({'; '.join(problems)}). "
        "Start it with: bash .ci/start-postgres.sh"
    )


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def fresh_database(prefix: str = "deskpilot_test") -> Iterator[str]:
    """Yield the URL of a new empty database; drop it (and its connections) afterwards."""
    import psycopg

    admin = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
