"""Vietnam's acknowledgement of a request (within 2 working days, ``acknowledge_by``): when, by
whom and how it was acknowledged, recorded once.

Requests filed before have none; those with ``acknowledge_by`` still open can be acknowledged.

Revision ID: 0010
Revises: 0009
"""

from shared.migrations import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
-- Set once: the first acknowledgement is the one kept (a second call returns it).
ALTER TABLE requests ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE requests ADD COLUMN acknowledged_by text;
-- email or sms: the notifier told the requester it was received; staff: recorded by hand.
ALTER TABLE requests ADD COLUMN acknowledged_via text CHECK (acknowledged_via IN ('email', 'sms', 'staff'));
"""
    )


def downgrade() -> None:
    execute_script(
        """
ALTER TABLE requests DROP COLUMN acknowledged_via;
ALTER TABLE requests DROP COLUMN acknowledged_by;
ALTER TABLE requests DROP COLUMN acknowledged_at;
"""
    )
