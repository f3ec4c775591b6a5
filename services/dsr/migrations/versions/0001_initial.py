"""Requests, their audit trail, verifications, systems, tasks, holds, notices, outbox, keys.

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
-- One row per request. Personal data (names, contacts, birth dates, details) is sealed in
-- "personal" under the request's own key (key_ref); the other columns hold none.
CREATE TABLE requests (
    request_id          uuid PRIMARY KEY,
    reference           text NOT NULL UNIQUE,
    type                text NOT NULL,
    jurisdiction        text NOT NULL,
    language            text NOT NULL,
    status              text NOT NULL,
    subject_id          text,
    relationship        text NOT NULL CHECK (relationship IN ('self', 'legal_representative', 'agent')),
    by_guardian         boolean NOT NULL,
    child_own_request   boolean NOT NULL,
    guardian_joined     boolean NOT NULL DEFAULT false,
    channel             text NOT NULL,
    entered_by          text,
    objects_to          uuid REFERENCES requests (request_id),
    token_hash          text NOT NULL,
    key_ref             text NOT NULL,
    personal            bytea,
    received_at         timestamptz NOT NULL,
    acknowledge_by      timestamptz,
    due_at              timestamptz NOT NULL,
    original_due_at     timestamptz NOT NULL,
    deadline_basis      text NOT NULL,
    extension_reason    text,
    extended_at         timestamptz,
    legal_ground        text,
    decided_by          text,
    decided_at          timestamptz,
    closed_at           timestamptz,
    destroy_after       timestamptz,
    destroyed_at        timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX requests_open_due ON requests (due_at)
    WHERE status IN ('received', 'verifying', 'in_review', 'approved', 'in_progress');
CREATE INDEX requests_status ON requests (status, received_at);
CREATE INDEX requests_destroy ON requests (destroy_after) WHERE destroyed_at IS NULL AND destroy_after IS NOT NULL;

-- The audit trail: every transition, who, when, why. Append-only.
CREATE TABLE transitions (
    id          bigserial PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES requests (request_id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    reason      text
);
CREATE INDEX transitions_request ON transitions (request_id, id);

CREATE TABLE verifications (
    id                    bigserial PRIMARY KEY,
    request_id            uuid NOT NULL REFERENCES requests (request_id),
    method                text NOT NULL,
    verified_by           text NOT NULL,
    evidence_ref          text NOT NULL,
    representative_checked boolean NOT NULL,
    at                    timestamptz NOT NULL
);

CREATE TABLE systems (
    system_id         text PRIMARY KEY,
    name              text NOT NULL,
    description       text,
    data_categories   text[] NOT NULL,
    retention_classes text[] NOT NULL,
    processor         boolean NOT NULL,
    registered_at     timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE tasks (
    task_id      uuid PRIMARY KEY,
    request_id   uuid NOT NULL REFERENCES requests (request_id),
    system_id    text NOT NULL REFERENCES systems (system_id),
    kind         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('sent', 'answered', 'unanswered')),
    attempts     integer NOT NULL,
    plan         jsonb NOT NULL,
    sent_at      timestamptz NOT NULL,
    answer_due   timestamptz NOT NULL,
    outcome      text,
    result       bytea,
    answered_at  timestamptz
);
CREATE INDEX tasks_request ON tasks (request_id);
CREATE INDEX tasks_waiting ON tasks (answer_due) WHERE status = 'sent';

CREATE TABLE holds (
    hold_id     uuid PRIMARY KEY,
    request_id  uuid NOT NULL REFERENCES requests (request_id),
    subject_id  text NOT NULL,
    reason      text NOT NULL,
    placed_at   timestamptz NOT NULL,
    released_at timestamptz
);

-- One row per deadline notice sent, so that each is sent once whatever the replicas do.
CREATE TABLE deadline_notices (
    request_id uuid NOT NULL REFERENCES requests (request_id),
    kind       text NOT NULL,
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (request_id, kind)
);
"""
    )
