"""Fault injection for the whole stack (``make chaos``): see docs/chaos.md."""
