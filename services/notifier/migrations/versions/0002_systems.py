"""The clinic systems and their keys, copied from the request service's registry (dsr.systems):
this service authenticates each system by its own key and knows what it may do.

Revision ID: 0002
Revises: 0001
"""

from shared.directory import REPLICA_DDL
from shared.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(REPLICA_DDL)


def downgrade() -> None:
    execute_script("DROP TABLE system_keys; DROP TABLE systems;")
