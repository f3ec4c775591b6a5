"""Telling requesters: a notification's recipient may be a request's requester
(``requester:<request_id>``), delivered on the ``requester`` channel, whose address is asked of
the request service at each attempt and never stored; once told their request was received, an
``acknowledgement`` delivery records it there. A delivery with no one to send to (the requester
gave no email or phone, or their data was destroyed) is ``skipped``, not failed.

Revision ID: 0004
Revises: 0003
"""

from shared.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('email', 'webhook', 'requester', 'acknowledgement'));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'skipped'));
"""
    )


def downgrade() -> None:
    execute_script(
        """
DELETE FROM deliveries WHERE channel IN ('requester', 'acknowledgement') OR status = 'skipped';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'sent', 'failed'));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('email', 'webhook'));
"""
    )
