"""Transit keys: one per subject, for the personal fields sealed on Kafka (shared/sealing.py).

Revision ID: 0003
Revises: 0002
"""

from shared.crypto import key_table_ddl
from shared.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Same shape as subject_keys: the key wrapped by the master key, or NULL and the time it was
    # destroyed (an approved erasure destroys both kinds of key).
    execute_script(key_table_ddl("transit_keys"))


def downgrade() -> None:
    execute_script("DROP TABLE transit_keys;")
