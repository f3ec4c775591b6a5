"""The guardian request portal (public pages of the request service, under ``/portal/``)."""

from services.dsr.portal.routes import install_portal, router

__all__ = ["install_portal", "router"]
