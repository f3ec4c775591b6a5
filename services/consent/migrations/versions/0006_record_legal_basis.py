"""Each consent record keeps the legal basis of its purpose as the catalogue gave it when the
record was made, chained with the record (services/consent/domain.py, CHAINED_WHEN_PRESENT): a
later edit of the catalogue cannot change what a past record was based on. Records made before
have none (their receipts say the catalogue's, marked as such).

Revision ID: 0006
Revises: 0005
"""

from shared.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE consent_records ADD COLUMN legal_basis text;")


def downgrade() -> None:
    execute_script("ALTER TABLE consent_records DROP COLUMN legal_basis;")
