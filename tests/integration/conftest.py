"""Session fixtures for the production-profile tests: our own PostgreSQL clusters and a real `mlflow server`.

Two clusters, so stopping the message store never takes the registry's database down with it.
Without PostgreSQL binaries the tests are skipped, unless `TIDINGS_REQUIRE_POSTGRES` is set, in
which case they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import MlflowServer, PostgresCluster, Unavailable


def _cluster(name: str) -> PostgresCluster:
    try:
        return PostgresCluster(name)
    except Unavailable as e:
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES"):
            pytest.fail(f"{e} (TIDINGS_REQUIRE_POSTGRES is set)")
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def store_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the message store, which tests may stop and start."""
    cluster = _cluster("store")
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[MlflowServer]:
    """`mlflow server` with its backend store in a PostgreSQL cluster of its own and a temporary artifact root."""
    cluster = _cluster("registry")
    root = Path(tempfile.mkdtemp(prefix="tidings-mlflow-"))
    server = MlflowServer(cluster.create_database("mlflow"), root / "artifacts")
    try:
        server.start()
        yield server
    finally:
        server.kill()
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
