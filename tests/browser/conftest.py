"""The whole flow in a real Chromium: the dashboard's served stack (request service with portal
and dashboard, consent service, notifier) and the example clinic systems, reused from the other
test packages."""

import pytest

from tests.browser_support import browser  # noqa: F401
from tests.dashboard.conftest import dash  # noqa: F401
from tests.dsr.conftest import clinic  # noqa: F401


@pytest.fixture
def stack(dash):  # `clinic` asks for `stack`: give it the dashboard's (a Stack too)
    return dash
