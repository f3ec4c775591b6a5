"""The retention clock: for each subject and retention class with a legal period, the day the
period counts from (the latest record a clinic system reported: a visit, an access, a certificate)
and the day it ends; when it ends the scheduler records a destruction (``retention_expired``).

Revision ID: 0014
Revises: 0013
"""

from shared.migrations import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
CREATE TABLE retention_clocks (
    subject_id      text NOT NULL,
    retention_class text NOT NULL,
    starts_on       date NOT NULL,
    ends_on         date NOT NULL CHECK (ends_on > starts_on),
    reported_by     text NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- When the scheduler recorded its destruction; a later record re-arms the clock (NULL again).
    expired_at      timestamptz,
    PRIMARY KEY (subject_id, retention_class)
);
CREATE INDEX retention_clocks_due ON retention_clocks (ends_on) WHERE expired_at IS NULL;
"""
    )


def downgrade() -> None:
    execute_script("DROP TABLE retention_clocks;")
