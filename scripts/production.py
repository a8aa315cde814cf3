"""The production profile (deploy/endpoints.production.yml) on throwaway services.

The scale-out test and `make bench` both run several Rasa servers against the real
PostgreSQL and Redis on 127.0.0.1. Each run gets its own database and its own Redis
key prefix, created here and removed afterwards, so runs on one machine never mix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bot.settings import ROOT

PROFILE = ROOT / "deploy" / "endpoints.production.yml"
# Trust auth on the local PostgreSQL; an existing database to connect to first.
POSTGRES_ADMIN_URL = os.environ.get(
    "XY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def unavailable() -> str | None:
    """Why the production profile cannot run here, or None when it can."""
    import redis
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"PostgreSQL does not answer at {engine.url!r}: {type(exc).__name__}"
    finally:
        engine.dispose()
    try:
        redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return (
            f"Redis does not answer at {REDIS_HOST}:{REDIS_PORT}: {type(exc).__name__}"
        )
    return None


def database_url(name: str) -> str:
    import sqlalchemy as sa

    url = sa.engine.make_url(POSTGRES_ADMIN_URL)
    return url.set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_services(action_url: str) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database and Redis prefix; yields the profile's variables.

    Conversations (Rasa's tracker store) and intake records share the database, as
    they may in production; they live in different tables.
    """
    import redis
    import sqlalchemy as sa

    run = uuid.uuid4().hex[:12]
    name, prefix = f"xy_scale_{run}", f"xyscale{run}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = database_url(name)
    try:
        yield {
            "XY_ENDPOINTS": str(PROFILE),
            "XY_ACTION_URL": action_url,
            "XY_TRACKER_DB_URL": url,
            "XY_DATABASE_URL": url,
            "XY_REDIS_HOST": REDIS_HOST,
            "XY_REDIS_PORT": str(REDIS_PORT),
            "XY_REDIS_DB": "0",
            "XY_REDIS_PASSWORD": "",
            "XY_REDIS_PREFIX": prefix,
        }
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        red = redis.Redis(REDIS_HOST, REDIS_PORT)
        keys = list(red.scan_iter(f"{prefix}:*"))
        if keys:
            red.delete(*keys)
