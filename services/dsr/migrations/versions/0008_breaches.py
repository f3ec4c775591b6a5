"""The breach register: each suspected leak, its 72-hour clock, who was told, and its audit trail.

Revision ID: 0008
Revises: 0007
"""

from shared.migrations import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
-- One row per suspected leak. What may name a person (the subject ids, and everything staff wrote
-- about the case) is sealed in "personal" under the breach's own key (key_ref); the other
-- columns are codes, counts and times.
CREATE TABLE breaches (
    breach_id           uuid PRIMARY KEY,
    reference           text NOT NULL UNIQUE,
    status              text NOT NULL CHECK (status IN ('open', 'closed')),
    key_ref             text NOT NULL,
    personal            bytea NOT NULL,
    occurred_at         timestamptz,
    discovered_at       timestamptz NOT NULL,
    notify_by           timestamptz NOT NULL,
    subject_count       integer CHECK (subject_count >= 0),
    data_categories     text[] NOT NULL,
    sensitive           boolean NOT NULL,
    unique_identifiers  boolean NOT NULL,
    cause               text NOT NULL,
    measures            text[] NOT NULL,
    regulator_required  boolean NOT NULL,
    regulator_reasons   text[] NOT NULL,
    -- Who was told so far (the sum and the last of the disclosures below).
    people_told         integer NOT NULL DEFAULT 0 CHECK (people_told >= 0),
    people_told_at      timestamptz,
    regulator_reported_at timestamptz,
    recorded_by         text NOT NULL,
    recorded_at         timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    outcome             text CHECK (outcome IN ('handled', 'not_a_breach')),
    closed_by           text,
    closed_at           timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX breaches_open ON breaches (discovered_at) WHERE status = 'open';

-- Each time people affected were told, or the regulator was reported to: the evidence.
CREATE TABLE breach_disclosures (
    id            bigserial PRIMARY KEY,
    breach_id     uuid NOT NULL REFERENCES breaches (breach_id),
    kind          text NOT NULL CHECK (kind IN ('people', 'regulator')),
    at            timestamptz NOT NULL,
    people        integer CHECK (people >= 1),
    channels      text[],
    regulator     text,
    regulator_reference text,
    recorded_by   text NOT NULL,
    recorded_at   timestamptz NOT NULL,
    CHECK ((kind = 'people') = (people IS NOT NULL AND channels IS NOT NULL)),
    CHECK ((kind = 'regulator') = (regulator IS NOT NULL))
);
CREATE INDEX breach_disclosures_breach ON breach_disclosures (breach_id, id);

-- The audit trail: who did what, when (codes and field names only, never the sealed text).
CREATE TABLE breach_audit (
    id         bigserial PRIMARY KEY,
    breach_id  uuid NOT NULL REFERENCES breaches (breach_id),
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    detail     text
);
CREATE INDEX breach_audit_breach ON breach_audit (breach_id, id);

-- One row per reminder of the clock (24h, 48h, 72h), so that each is sent once whatever the
-- replicas do.
CREATE TABLE breach_notices (
    breach_id uuid NOT NULL REFERENCES breaches (breach_id),
    kind      text NOT NULL,
    sent_at   timestamptz NOT NULL,
    PRIMARY KEY (breach_id, kind)
);
"""
    )


def downgrade() -> None:
    execute_script(
        """
DROP TABLE breach_notices;
DROP TABLE breach_audit;
DROP TABLE breach_disclosures;
DROP TABLE breaches;
"""
    )
