"""The consent ledger, its projections, policies, holds, outbox and per-subject keys.

Revision ID: 0001
Revises:
"""

from shared import consumer, crypto, outbox
from shared.migrations import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(outbox.DDL)
    execute_script(consumer.DDL)
    execute_script(crypto.DDL)
    execute_script(
        """
CREATE TABLE policies (
    policy_id    text NOT NULL,
    version      text NOT NULL,
    effective_at timestamptz NOT NULL,
    published_at timestamptz NOT NULL,
    published_by text NOT NULL,
    texts        jsonb NOT NULL,
    text_hashes  jsonb NOT NULL,
    purposes     text[] NOT NULL,
    PRIMARY KEY (policy_id, version)
);

-- The head of each subject's hash chain. Locking this row serialises one subject's writes,
-- whichever replica or entry point (HTTP, Kafka) they come through.
CREATE TABLE subjects (
    subject_id    text PRIMARY KEY,
    last_sequence integer NOT NULL,
    last_hash     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The ledger: append-only (enforced below), one row per recorded consent event.
CREATE TABLE consent_records (
    record_id       uuid PRIMARY KEY,
    subject_id      text NOT NULL,
    sequence        integer NOT NULL,
    event_id        text NOT NULL UNIQUE,
    event_digest    text NOT NULL,
    source          text NOT NULL,
    received_via    text NOT NULL CHECK (received_via IN ('http', 'kafka')),
    decision        text NOT NULL CHECK (decision IN ('granted', 'declined', 'withdrawn')),
    purpose         text NOT NULL,
    policy_id       text NOT NULL,
    policy_version  text NOT NULL,
    language        text NOT NULL,
    notice_hash     text NOT NULL,
    method          text NOT NULL,
    actor_role      text NOT NULL CHECK (actor_role IN ('self', 'legal_representative')),
    jurisdiction    text NOT NULL,
    requirement     text NOT NULL CHECK (requirement IN ('self', 'representative', 'joint')),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    personal        bytea,
    personal_digest text NOT NULL,
    prev_hash       text NOT NULL,
    record_hash     text NOT NULL,
    UNIQUE (subject_id, sequence),
    FOREIGN KEY (policy_id, policy_version) REFERENCES policies (policy_id, version)
);

CREATE FUNCTION consent_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_records is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER consent_records_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON consent_records
    FOR EACH STATEMENT EXECUTE FUNCTION consent_records_append_only();

-- The current decision per subject and purpose: what a permission check reads.
CREATE TABLE consent_state (
    subject_id              text NOT NULL,
    purpose                 text NOT NULL,
    decision                text NOT NULL,
    requirement             text NOT NULL,
    self_granted            boolean NOT NULL,
    representative_granted  boolean NOT NULL,
    record_id               uuid NOT NULL,
    decided_at              timestamptz NOT NULL,
    PRIMARY KEY (subject_id, purpose)
);

CREATE TABLE holds (
    hold_id     text PRIMARY KEY,
    subject_id  text NOT NULL,
    request_id  text NOT NULL,
    reason      text NOT NULL,
    placed_at   timestamptz,
    released_at timestamptz
);
CREATE INDEX holds_active ON holds (subject_id) WHERE released_at IS NULL;
"""
    )
