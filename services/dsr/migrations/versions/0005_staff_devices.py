"""Browsers a staff member signed in from (device cookies), so that failed sign-ins elsewhere never
lock them out of their own browser.

Revision ID: 0005
Revises: 0004
"""

from shared.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
-- A browser that signed in as this account. Its cookie holds a random token; only its SHA-256 is
-- stored here. One browser may be trusted for several accounts (a shared desk).
CREATE TABLE staff_devices (
    device_id           text NOT NULL,
    username            text NOT NULL REFERENCES staff_accounts (username) ON DELETE CASCADE,
    first_signed_in_at  timestamptz NOT NULL,
    last_signed_in_at   timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    PRIMARY KEY (device_id, username)
);
CREATE INDEX staff_devices_username ON staff_devices (username);
CREATE INDEX staff_devices_expires ON staff_devices (expires_at);
"""
    )


def downgrade() -> None:
    execute_script("DROP TABLE staff_devices;")
