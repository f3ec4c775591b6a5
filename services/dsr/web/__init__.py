"""What the guardian portal and the staff dashboard share: their Jinja environments, the
security-header middleware, posted forms (and the dashboard's CSRF check), and the request
service's objects as FastAPI dependencies (so tests swap them with ``app.dependency_overrides``)."""
