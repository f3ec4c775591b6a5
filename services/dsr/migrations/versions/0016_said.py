"""What the record says, kept to be read in every language (issue 21): each transition's reason and
each request's deadline basis, and each breach audit row's detail, as a catalogue key with its codes and values (``shared.i18n.Said``),
beside the English text the API has always carried. Rows from before have none: read as written.

Revision ID: 0016
Revises: 0015
"""

from shared.migrations import execute_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
ALTER TABLE transitions ADD COLUMN said jsonb;
ALTER TABLE requests ADD COLUMN deadline_said jsonb;
ALTER TABLE breach_audit ADD COLUMN said jsonb;
""")


def downgrade() -> None:
    execute_script("""
ALTER TABLE transitions DROP COLUMN said;
ALTER TABLE requests DROP COLUMN deadline_said;
ALTER TABLE breach_audit DROP COLUMN said;
""")
