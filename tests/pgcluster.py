"""A throwaway PostgreSQL cluster for the store tests.

Debian's ``postgresql`` package puts the server binaries under
``/usr/lib/postgresql/<version>/bin`` (``make postgresql`` installs it). The cluster lives in a
fresh directory under the system temp dir, listens on 127.0.0.1 at a free port (its unix socket
stays in that directory), runs with fsync off and a non-UTC time zone, and is stopped and deleted at the end. No system
service is touched. The server refuses to run as root, so as root every server command runs as
the ``postgres`` system user that the package creates (``runuser -u postgres --``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "drux"


def find_bindir() -> Path | None:
    """The newest installed server's bin dir, or None when PostgreSQL is not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parent.parent.name)
                        if Path(p).parent.parent.name.isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    run_as: str | None  # a system user when the tests run as root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def _run(self, *args: str, timeout: float = 120) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is not None:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}\n{log}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        self.resume()

    def resume(self) -> None:
        """Start the server on its data and port (again, after ``halt``)."""
        # A server time zone other than UTC, so a test sees any time not normalised to UTC.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c TimeZone=Asia/Kolkata"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def halt(self) -> None:
        """Stop the server as a crash would (clients cut off at once), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                          timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_cluster(bindir: Path) -> Cluster:
    run_as = None
    root = Path(tempfile.mkdtemp(prefix="drux-pg-"))
    if os.geteuid() == 0:
        run_as = "postgres"
        owner = pwd.getpwnam(run_as)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(bindir, root, _free_port(), run_as)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
