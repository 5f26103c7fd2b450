"""Bad input to the ``drux`` command and to drux.toml: one ``error:`` line on stderr, a
non-zero exit, no traceback, and nothing already accepted lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# A panel whose one model is refused at once (nothing listens on port 1): cheap to run.
REFUSED = ('[providers.nowhere]\nbase_url = "http://127.0.0.1:1/v1"\nkey_required = false\n'
           '[models.m]\nprovider = "nowhere"\n[panels]\ndefault = ["m"]\n')


def _drux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str, code: int = 2) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0]


def test_an_empty_panel_name_is_not_the_default_panel(drux_env: Path) -> None:
    (drux_env / "project.toml").write_text(REFUSED)
    # `--panel ""` silently asked the whole default panel.
    for args in (["ask", "hi", "--panel", ""], ["hub", "faq", "lunar-night-lander", "--panel", ""]):
        _one_line_error(_drux(*args), "unknown panel ''")


def test_too_many_llama_threads_is_a_settings_error(drux_env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # DRUX_THREADS=100000 was accepted and llama.cpp crashed the process (segfault) mid-ask.
    monkeypatch.setenv("DRUX_THREADS", "100000")
    _one_line_error(_drux("ask", "hi", "--models", "smollm2-135m"), "DRUX_THREADS")
