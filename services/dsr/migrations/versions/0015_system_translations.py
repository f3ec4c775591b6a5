"""The words a clinic system registers for what it writes itself (its name, its description, the
recipients it names), by language, so that people and staff read them in theirs (issue 21).

Revision ID: 0015
Revises: 0014
"""

from shared.migrations import execute_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE systems ADD COLUMN translations jsonb NOT NULL DEFAULT '{}'::jsonb;")


def downgrade() -> None:
    execute_script("ALTER TABLE systems DROP COLUMN translations;")
