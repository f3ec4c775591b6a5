"""The signing key of each clinic system key (shared/recordsig.py), copied from dsr.systems, where
it travels encrypted for the services only; kept AES-256-GCM encrypted under this service's master
key and forgotten when the key is revoked.

Revision ID: 0003
Revises: 0002
"""

from shared.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE system_keys ADD COLUMN wrapped_signing_key bytea;")


def downgrade() -> None:
    execute_script("ALTER TABLE system_keys DROP COLUMN wrapped_signing_key;")
