import uuid

import psycopg
import pytest
from psycopg import sql

from config.database import direct_connection_params
from tests.ops.processes import (
    CLOSED_DATABASE_URL,
    CLOSED_REDIS_URL,
    database_url_for,
    run_manage,
)


def _database_exists(name: str) -> bool:
    with psycopg.connect(**direct_connection_params(dbname="postgres"), autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


@pytest.fixture
def new_database_name():
    # Upper case and a dash: the name must reach PostgreSQL quoted, exactly as written.
    name = f"convoy_ops_{uuid.uuid4().hex[:8]}-Check"
    yield name
    with psycopg.connect(**direct_connection_params(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def test_creates_the_database_then_finds_it(new_database_name):
    env = {"DATABASE_URL": database_url_for(new_database_name), "REDIS_URL": CLOSED_REDIS_URL}

    first = run_manage("create_database", env=env)

    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    assert new_database_name in first.stdout
    assert _database_exists(new_database_name)

    second = run_manage("create_database", env=env)

    assert second.returncode == 0, second.stderr
    assert "already exists" in second.stdout


def test_unreachable_server_is_one_clear_line():
    result = run_manage(
        "create_database", env={"DATABASE_URL": CLOSED_DATABASE_URL, "REDIS_URL": CLOSED_REDIS_URL}
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "127.0.0.1:1/convoy is unreachable" in line
    assert "Connection refused" in line
