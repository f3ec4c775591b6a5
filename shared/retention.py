"""Moved to :mod:`shared.rules.retention`; this name stays until every import is updated."""

from shared.rules.retention import RETENTION_CLASSES, RetentionClass

__all__ = ["RETENTION_CLASSES", "RetentionClass"]
