"""The staff dashboard of the request service (/dashboard/): accounts, sessions, pages."""

from __future__ import annotations

from typing import Any

__all__ = ["install_dashboard"]


def __getattr__(name: str) -> Any:
    # Imported lazily, so that `python -m services.dsr.dashboard.accounts` runs without warnings.
    if name in __all__:
        from services.dsr.dashboard import routes

        return getattr(routes, name)
    raise AttributeError(name)
