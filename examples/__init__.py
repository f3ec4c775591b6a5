"""Example integrations that clinic teams can copy; kept apart from the services.

The development stack (``deploy/devstack.py``) starts every ``examples/<name>/__main__.py`` after
the services.
"""
