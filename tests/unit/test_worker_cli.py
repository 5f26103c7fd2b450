"""``drux worker`` without Redis: one line saying what it needs, exit 2, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DRUX = str(Path(sys.executable).parent / "drux")


def test_worker_needs_redis(drux_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DRUX_REDIS_URL"}
    proc = subprocess.run([DRUX, "worker", "--concurrency", "2"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "error: drux worker needs DRUX_REDIS_URL: jobs are queued on Redis\n"
    assert proc.stdout == ""
