"""Each clinic system its own identity and rights: the CloudEvents source it publishes as, the
purposes it may check, the rights the privacy manager granted it, its retirement; and its keys
(only their SHA-256 is kept), each with a name, an expiry and a revocation.

Revision ID: 0004
Revises: 0003
"""

from shared.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
ALTER TABLE systems
    ADD COLUMN source        text,
    ADD COLUMN purposes      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rights        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN retired_at    timestamptz,
    ADD COLUMN retired_by    text,
    ADD COLUMN retire_reason text;
-- A source names one publisher: two systems may not publish as the same one.
CREATE UNIQUE INDEX systems_source ON systems (source) WHERE source IS NOT NULL;

CREATE TABLE system_keys (
    key_id      text PRIMARY KEY,
    system_id   text NOT NULL REFERENCES systems (system_id),
    name        text NOT NULL,
    key_sha256  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    revoked_by  text
);
CREATE INDEX system_keys_system ON system_keys (system_id);
""")


def downgrade() -> None:
    execute_script("""
DROP TABLE system_keys;
DROP INDEX systems_source;
ALTER TABLE systems DROP COLUMN source, DROP COLUMN purposes, DROP COLUMN rights,
    DROP COLUMN retired_at, DROP COLUMN retired_by, DROP COLUMN retire_reason;
""")
