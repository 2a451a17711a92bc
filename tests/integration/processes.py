"""Real servers for the fault tests: throwaway PostgreSQL clusters and an `mlflow server`, each stoppable.

Each cluster lives in its own temporary directory on a free loopback port, so stopping it never
touches the shared PostgreSQL server other work relies on.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psycopg


class Unavailable(RuntimeError):
    """A server these tests need cannot be started on this machine (the reason says why)."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path:
    """The directory holding initdb and pg_ctl: on PATH, or the newest /usr/lib/postgresql/<n>/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return Path(versions[-1]).parent


class PostgresCluster:
    """A PostgreSQL cluster of our own: `initdb` into a temporary directory, started and stopped at will.

    PostgreSQL refuses to run as root, so as root every command runs as the `postgres` OS user.
    """

    def __init__(self, name: str) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"tidings-{name}-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as e:
                raise Unavailable("running as root and there is no `postgres` OS user to run PostgreSQL as") from e
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL of the cluster's `postgres` database."""
        return self.url("postgres")

    def url(self, database: str) -> str:
        """SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop at once, dropping every connection (as a crash or a failover would)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def is_up(self) -> bool:
        """True when the server accepts connections."""
        try:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def destroy(self) -> None:
        """Stop if running and delete the cluster's files."""
        if self.is_up():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr + log)


def wait_http(
    url: str, timeout: float, process: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    """Wait until `url` answers 200; fail early, with the log's tail, if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s\n{tail}")


class MlflowServer:
    """`mlflow server` on loopback: a PostgreSQL backend store and a served filesystem artifact root."""

    def __init__(self, backend_store_uri: str, artifacts: Path) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts = artifacts
        self.port = free_port()
        self.log = artifacts.parent / "mlflow-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The tracking URI clients use."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> Sequence[str]:
        """The command line, as an operator would type it."""
        return [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", self.backend_store_uri),
            *("--artifacts-destination", str(self.artifacts)),
            "--serve-artifacts",
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
        ]

    def start(self, timeout: float = 180) -> None:
        """Start and wait for `/health` (the first start also creates MLflow's tables)."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        # The job runner (a dozen huey processes for MLflow's GenAI jobs) is of no use to Tidings.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
        wait_http(f"{self.uri}/health", timeout, self.process, self.log)

    def kill(self) -> None:
        """Kill the server and its workers outright (no graceful shutdown)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None
