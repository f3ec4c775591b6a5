"""Notifications (the inbox), their deliveries per channel, withdrawals awaiting the digest.

Revision ID: 0001
Revises:
"""

from shared import consumer
from shared.migrations import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(consumer.DDL)
    execute_script(
        """
-- One row per thing told and recipient, in the recipient's language, as it was rendered.
-- event_key is the CloudEvent id (or dlq:<digest of the record>, digest:<day>): the unique key
-- makes a redelivered event, or a replica racing another, tell each recipient once.
-- No personal data: request ids and references, types, deadlines, coordinates, reasons.
CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    event_key       text NOT NULL,
    event_type      text NOT NULL,
    kind            text NOT NULL,
    recipient_id    text NOT NULL,
    recipient_name  text NOT NULL,
    language        text NOT NULL CHECK (language IN ('ko', 'en', 'vi')),
    in_inbox        boolean NOT NULL,
    title           text NOT NULL,
    summary         text NOT NULL,
    action          text NOT NULL,
    link            text,
    request_id      text,
    reference       text,
    due_at          timestamptz,
    facts           jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    read_by         text,
    UNIQUE (event_key, recipient_id)
);
CREATE INDEX notifications_recent ON notifications (created_at DESC, notification_id);
CREATE INDEX notifications_unread ON notifications (created_at DESC) WHERE read_at IS NULL;
CREATE INDEX notifications_request ON notifications (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX notifications_reference ON notifications (reference) WHERE reference IS NOT NULL;

-- One row per notification and channel (email, webhook): the work of the delivery worker.
-- A pending row is due at next_attempt_at; claiming it moves next_attempt_at past the lease,
-- so another replica takes it only if this one died while trying.
CREATE TABLE deliveries (
    delivery_id     bigserial PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications (notification_id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    target          text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz,
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_failed ON deliveries (notification_id) WHERE status = 'failed';

-- New deliveries wake the worker at commit (the poll is the fallback).
CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_deliveries', '');
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();

-- Consent withdrawals (purpose and local day only; not who) until a digest counts them.
CREATE TABLE withdrawals (
    event_id text PRIMARY KEY,
    day      date NOT NULL,
    purpose  text NOT NULL
);
CREATE INDEX withdrawals_day ON withdrawals (day);

-- One row per daily digest: the primary key makes it once per day, whatever the replicas do.
CREATE TABLE digests (
    day         date PRIMARY KEY,
    withdrawals integer NOT NULL,
    made_at     timestamptz NOT NULL DEFAULT now()
);
"""
    )


def downgrade() -> None:
    execute_script(
        """
DROP TABLE digests;
DROP TABLE withdrawals;
DROP TABLE deliveries;
DROP FUNCTION deliveries_notify();
DROP TABLE notifications;
DROP TABLE processed_events;
"""
    )
