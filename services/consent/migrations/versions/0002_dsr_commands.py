"""Evidence of approved erasures (subject.erasure.approved from the request service).

Revision ID: 0002
Revises: 0001
"""

from shared.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
-- One row per approved erasure request: when it was approved, when the subject's key was
-- destroyed (the first destruction, if an earlier request already destroyed it), and whether a
-- live key existed then. Holds no personal data; kept, like the ledger, as evidence.
CREATE TABLE erasures (
    subject_id   text NOT NULL,
    request_id   text NOT NULL,
    approved_at  timestamptz NOT NULL,
    destroyed_at timestamptz NOT NULL,
    had_key      boolean NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, request_id)
);

CREATE FUNCTION erasures_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'erasures is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER erasures_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON erasures
    FOR EACH STATEMENT EXECUTE FUNCTION erasures_append_only();
"""
    )


def downgrade() -> None:
    execute_script(
        """
DROP TABLE erasures;
DROP FUNCTION erasures_append_only();
"""
    )
