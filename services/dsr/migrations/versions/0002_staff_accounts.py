"""Staff accounts for the dashboard, their sessions, and failed sign-ins (rate limit).

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
-- People who sign in to the dashboard. Machines keep using API keys.
CREATE TABLE staff_accounts (
    username        text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name    text NOT NULL,
    role            text NOT NULL CHECK (role IN ('staff', 'privacy_manager')),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    created_at      timestamptz NOT NULL,
    disabled        boolean NOT NULL DEFAULT false
);

-- A signed-in browser. The cookie holds a random token; only its SHA-256 is stored here.
CREATE TABLE staff_sessions (
    session_id      text PRIMARY KEY,
    username        text NOT NULL REFERENCES staff_accounts (username) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX staff_sessions_username ON staff_sessions (username);
CREATE INDEX staff_sessions_expires ON staff_sessions (expires_at);

-- Failed sign-ins, by "user:<name>" and "addr:<client address>", for the sign-in rate limit.
CREATE TABLE staff_signin_failures (
    id              bigserial PRIMARY KEY,
    key             text NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX staff_signin_failures_key_at ON staff_signin_failures (key, at);
"""
    )


def downgrade() -> None:
    execute_script("DROP TABLE staff_signin_failures; DROP TABLE staff_sessions; DROP TABLE staff_accounts;")
