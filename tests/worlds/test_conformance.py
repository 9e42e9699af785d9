"""Runs the shared World conformance suite (conformance.py) on every backend."""

import pytest
from conformance import *  # noqa: F403
from conformance_deploys import *  # noqa: F403
from conformance_hooks import *  # noqa: F403
from conformance_queues import *  # noqa: F403
from conformance_schedules import *  # noqa: F403
from conformance_workers import *  # noqa: F403

pytestmark = pytest.mark.anyio
