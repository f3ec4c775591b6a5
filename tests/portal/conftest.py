"""The portal runs on the request service: reuse its served stack, and a real Chromium."""

from tests.browser_support import browser, page  # noqa: F401
from tests.dsr.conftest import stack  # noqa: F401
