"""Destructions: what the clinic may no longer keep of a person (a consent or membership withdrawal
took away its only ground; later, a retention period ended), the destroy task each holding system
was sent, and each system's confirmation. The log is the evidence an inspector asks for (PIPA
Art. 21, Decree Art. 16): what, which system, when, by which rule; never the data itself.

Revision ID: 0013
Revises: 0012
"""

from shared.migrations import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
CREATE TABLE destructions (
    destruction_id  uuid PRIMARY KEY,
    reference       text NOT NULL UNIQUE,
    subject_id      text NOT NULL,
    jurisdiction    text NOT NULL,
    trigger         text NOT NULL
                    CHECK (trigger IN ('consent_withdrawal', 'membership_withdrawal', 'retention_expired')),
    -- What caused it, once: the consent.withdrawn event's id, or the retention clock's key.
    cause           text NOT NULL UNIQUE,
    purposes        text[] NOT NULL,
    categories      text[] NOT NULL,
    classes         text[] NOT NULL,
    kept            jsonb NOT NULL,
    rule            text NOT NULL,
    created_at      timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    -- When the privacy manager was told it was overdue (once), and when every system confirmed.
    overdue_at      timestamptz,
    closed_at       timestamptz,
    CHECK (cardinality(categories) + cardinality(classes) > 0)
);
CREATE INDEX destructions_subject ON destructions (subject_id, created_at);
CREATE INDEX destructions_created ON destructions (created_at);
CREATE INDEX destructions_open ON destructions (due_at) WHERE closed_at IS NULL AND overdue_at IS NULL;

CREATE TABLE destruction_tasks (
    task_id         uuid PRIMARY KEY,
    destruction_id  uuid NOT NULL REFERENCES destructions (destruction_id),
    system_id       text NOT NULL REFERENCES systems (system_id),
    retain_classes  text[] NOT NULL,
    status          text NOT NULL CHECK (status IN ('sent', 'answered')),
    attempts        integer NOT NULL,
    sent_at         timestamptz NOT NULL,
    answer_due      timestamptz NOT NULL,
    -- The system's confirmation: its outcome, the categories destroyed, what it kept and why.
    outcome         text CHECK (outcome IN ('done', 'partially_done', 'no_data', 'failed')),
    erased          text[],
    retained        jsonb,
    note            text,
    answered_at     timestamptz,
    -- Closed by the privacy manager without an answer (a retired system): who, and the reason in note.
    closed_by       text,
    UNIQUE (destruction_id, system_id)
);
CREATE INDEX destruction_tasks_waiting ON destruction_tasks (answer_due) WHERE status = 'sent';
"""
    )


def downgrade() -> None:
    execute_script("DROP TABLE destruction_tasks; DROP TABLE destructions;")
