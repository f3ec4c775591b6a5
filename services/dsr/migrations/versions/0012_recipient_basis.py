"""The registry says on what basis each system receives the clinic's data: consent, a law (cited) or
a contract; and, for a processor, the duty entrusted to it and the contract's term (PIPA Art. 26).

Revision ID: 0012
Revises: 0011
"""

from shared.migrations import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
ALTER TABLE systems
    ADD COLUMN legal_basis    text CHECK (legal_basis IN ('consent', 'law', 'contract')),
    ADD COLUMN legal_citation text,
    ADD COLUMN entrusted_duty text,
    ADD COLUMN contract_from  date,
    ADD COLUMN contract_until date;
"""
    )


def downgrade() -> None:
    execute_script("ALTER TABLE systems DROP COLUMN legal_basis, DROP COLUMN legal_citation, "
                   "DROP COLUMN entrusted_duty, DROP COLUMN contract_from, DROP COLUMN contract_until;")
