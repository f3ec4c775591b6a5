"""The provision log: each time the clinic provided a person's data to a third party because a law
required it (no consent: shared/rules/provisions.yaml), what, to whom, on which ground, when, who
recorded it. Append-only, like the audit trail: a provision happened or it did not.

Revision ID: 0011
Revises: 0010
"""

from shared.migrations import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
CREATE TABLE provisions (
    provision_id    uuid PRIMARY KEY,
    subject_id      text NOT NULL,
    ground          text NOT NULL,
    data_categories text[] NOT NULL CHECK (cardinality(data_categories) > 0),
    reference       text,
    provided_at     timestamptz NOT NULL,
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX provisions_subject ON provisions (subject_id, provided_at);
CREATE INDEX provisions_recorded ON provisions (recorded_at);

CREATE FUNCTION provisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the provision log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER provisions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON provisions
    FOR EACH STATEMENT EXECUTE FUNCTION provisions_append_only();
"""
    )


def downgrade() -> None:
    execute_script("DROP TABLE provisions; DROP FUNCTION provisions_append_only();")
