"""A dsr.task-results event id is kept with the digest of the answer it carried, so that the same
id on a different answer is refused (dead-lettered) instead of being taken for a replay.

Revision ID: 0003
Revises: 0002
"""

from shared.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for ids claimed before this revision (and by consumers that keep no digest).
    execute_script("ALTER TABLE processed_events ADD COLUMN digest text;")


def downgrade() -> None:
    execute_script("ALTER TABLE processed_events DROP COLUMN digest;")
