"""Hostile input: schemathesis generates requests from the OpenAPI schema against a live server.

No generated input may cause a 5xx or a response that breaks the documented schema.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from serving.app import create_app
from tests.serving.service import Deployment, deployment

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = 100
# The same examples on every CI run, so CI is never red by chance; set TIDINGS_FUZZ_EXPLORE=1 to explore.
DERANDOMIZE = not os.environ.get("TIDINGS_FUZZ_EXPLORE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Deployment]]:
    with deployment(tmp_path_factory.mktemp("fuzz")) as d:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(d.settings), host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base, d
        server.should_exit = True
        thread.join(30)


def test_generated_requests_never_break_the_api(live):
    base, d = live
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {d.keys['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    calls = Counter()
    for operation, mode in itertools.product(operations, GenerationMode):
        # pytest 9 and schemathesis's pytest plugin disagree, so each operation runs as a plain Hypothesis test.
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=DERANDOMIZE,
        )
        def check(case):
            response = case.call_and_validate(base_url=base, headers=headers)
            calls[response.status_code // 100] += 1

        try:
            check()
        except Unsatisfiable:
            # An operation without inputs (GET /healthz) has no invalid request to generate.
            assert mode is GenerationMode.NEGATIVE
    assert calls[5] == 0
    assert calls[2] > 100 and calls[4] > 100, calls
