"""The PostgreSQL set-up of deploy/compose.yaml, run for real: the init script it mounts into the
postgres container makes one login role per service owning its schema; each service migrates its
schema as that role (no superuser) and cannot touch another service's tables.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import asyncpg
import pytest
import yaml

from deploy.local_infra import postgres_bin_dir, run_psql
from shared.migrations import SERVICES, upgrade_async

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"


def init_script() -> str:
    """The script as the container sees it: Compose turns ``$$`` into ``$``."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    mounted = compose["services"]["postgres"]["configs"][0]
    assert mounted["target"].startswith("/docker-entrypoint-initdb.d/") and mounted["target"].endswith(".sh")
    return compose["configs"][mounted["source"]]["content"].replace("$$", "$")


@pytest.fixture
def database(postgres_server):
    name = f"roles_{secrets.token_hex(4)}"
    run_psql(postgres_server.admin_dsn, f'CREATE DATABASE "{name}"')
    yield name
    run_psql(postgres_server.admin_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')
    for service in SERVICES:
        run_psql(postgres_server.admin_dsn, f'DROP ROLE IF EXISTS "dongui_{service}"')


async def test_each_service_migrates_as_its_own_role(postgres_server, database: str, tmp_path: Path) -> None:
    script = tmp_path / "10-dongui-roles.sh"
    script.write_text(init_script(), encoding="utf-8")
    env = {
        "PATH": f"{postgres_bin_dir()}:{os.environ['PATH']}",
        "PGHOST": postgres_server.host, "PGPORT": str(postgres_server.port),
        "POSTGRES_USER": "postgres", "POSTGRES_DB": database,
        **{f"DONGUI_{s.upper()}_DB_PASSWORD": secrets.token_hex(12) for s in SERVICES},
    }
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    for service in SERVICES:
        dsn = f"postgresql://dongui_{service}@{postgres_server.host}:{postgres_server.port}/{database}"
        await upgrade_async(dsn, service)
        conn = await asyncpg.connect(dsn)
        try:
            assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert await conn.fetchval(f"SELECT count(*) FROM {service}.alembic_version") == 1
        finally:
            await conn.close()

    consent = await asyncpg.connect(
        f"postgresql://dongui_consent@{postgres_server.host}:{postgres_server.port}/{database}")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await consent.fetchval("SELECT count(*) FROM dsr.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await consent.execute("CREATE TABLE notifier.intruder (id int)")
    finally:
        await consent.close()
