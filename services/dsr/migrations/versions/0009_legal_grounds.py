"""The clinic's law governs a request; the person's residence law, if another, is kept beside it.
A refusal and an extension name a legal ground from the list (shared/rules/grounds.yaml), and an
upheld objection to an extension withdraws it.

Requests filed before keep the law their requester picked in ``jurisdiction`` and their deadlines
(computed once, at intake); they have no residence and no ground.

Revision ID: 0009
Revises: 0008
"""

from shared.migrations import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
-- The law of where the person lives, when it is not the clinic's: it may only shorten the
-- deadline or add rights (jurisdiction stays the law that governs: the clinic's).
ALTER TABLE requests ADD COLUMN residence text CHECK (residence IN ('KR', 'VN', 'EU'));
-- The refusal's ground and the extension's (ids of shared/rules/grounds.yaml); the free text
-- beside them stays in legal_ground and extension_reason.
ALTER TABLE requests ADD COLUMN ground text;
ALTER TABLE requests ADD COLUMN extension_ground text;
-- When an upheld objection withdrew the extension (the original deadline applies again).
ALTER TABLE requests ADD COLUMN extension_withdrawn_at timestamptz;
"""
    )


def downgrade() -> None:
    execute_script(
        """
ALTER TABLE requests DROP COLUMN extension_withdrawn_at;
ALTER TABLE requests DROP COLUMN extension_ground;
ALTER TABLE requests DROP COLUMN ground;
ALTER TABLE requests DROP COLUMN residence;
"""
    )
