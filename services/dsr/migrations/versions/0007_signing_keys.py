"""Each clinic system key's signing key (shared/recordsig.py), with which the services check the
Kafka records the system produces: derived from the key when it is issued (the only moment the key
is at hand), kept AES-256-GCM encrypted under this service's master key, forgotten when the key is
revoked. Keys issued before have none: their records are refused until a new key is issued.

Revision ID: 0007
Revises: 0006
"""

from shared.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE system_keys ADD COLUMN wrapped_signing_key bytea;")


def downgrade() -> None:
    execute_script("ALTER TABLE system_keys DROP COLUMN wrapped_signing_key;")
