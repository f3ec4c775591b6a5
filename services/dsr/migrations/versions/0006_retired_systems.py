"""A retired system's source is free for the system that replaces it, and a task closed by hand
says so (who closed it), so that a late answer to it is refused instead of silently dropped.

Revision ID: 0006
Revises: 0005
"""

from shared.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
-- A source names one publisher in service: a retired system's source passes to its replacement.
DROP INDEX systems_source;
CREATE UNIQUE INDEX systems_source ON systems (source) WHERE source IS NOT NULL AND retired_at IS NULL;
-- Who closed a task by hand (the privacy manager, or a system's retirement); NULL: answered.
ALTER TABLE tasks ADD COLUMN closed_by text;
ALTER TABLE tasks ADD CONSTRAINT tasks_closed_answered CHECK (closed_by IS NULL OR status = 'answered');
"""
    )


def downgrade() -> None:
    execute_script(
        """
ALTER TABLE tasks DROP CONSTRAINT tasks_closed_answered;
ALTER TABLE tasks DROP COLUMN closed_by;
DROP INDEX systems_source;
CREATE UNIQUE INDEX systems_source ON systems (source) WHERE source IS NOT NULL;
"""
    )
