"""Operability tests (metrics, audit, logs) use the API fixtures of tests/conftest.py and the gateway's ``gw``."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ..gateway.conftest import gw  # noqa: F401 - a fixture shared with the gateway tests
from .postgres import PostgresUnavailable, postgres_cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """A throw-away PostgreSQL 15 cluster for the session (``tests/ops/postgres.py``)."""
    try:
        with postgres_cluster() as (socket_dir, port):
            yield str(socket_dir), port
    except PostgresUnavailable as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs PostgreSQL: {err}")
        pytest.skip(str(err))


@pytest.fixture
def postgres_database(postgres_server) -> str:
    """The SQLAlchemy URL of a fresh, empty database in that cluster."""
    import psycopg

    socket_dir, port = postgres_server
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@/{name}?host={socket_dir}&port={port}"
