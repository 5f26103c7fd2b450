"""``drux hub``: import, list, show and faq from the command line, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drux.cli import app
from drux.config import load_config
from drux.services import Services

from scripted import Reply, ScriptedProvider, factory

GOOD = "---\ntitle: Good one\ndate: 2026-11-02\ntags: [a]\nfaq:\n  - Why?\n  - How?\n---\nBody.\n"


def _drux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from drux.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_import_then_list_then_bad_file(drux_env: Path) -> None:
    folder = drux_env / "articles"
    folder.mkdir()
    (folder / "good-one.md").write_text(GOOD)
    done = _drux("hub", "import", str(folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 1 article: good-one"

    bad = drux_env / "bad.md"
    bad.write_text("---\ntitle: Bad\ndate: 2026-11-02\nsource: javascript:alert(1)\n---\nx\n")
    failed = _drux("hub", "import", str(bad))
    assert failed.returncode == 2
    assert failed.stderr == (f"error: {bad}: field 'source': must be an http(s) URL, got "
                             "'javascript:alert(1)'; nothing was imported\n")
    assert "Traceback" not in failed.stderr

    listed = _drux("hub", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["total"] == 1 and data["articles"][0]["id"] == "good-one"


def test_missing_path_and_unknown_article(drux_env: Path) -> None:
    missing = _drux("hub", "import", str(drux_env / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no such file or folder" in missing.stderr
    unknown = _drux("hub", "faq", "no-such-article")
    assert unknown.returncode == 2
    assert unknown.stderr == "error: no article 'no-such-article' in the Hub (see: drux hub list)\n"
    huge = _drux("hub", "list", "--page", "99999999999999999999")  # was unexpected OverflowError
    assert huge.returncode == 2 and huge.stderr.startswith("error: page must be between 1 and")


def test_list_fills_an_empty_hub_with_the_samples(drux_env: Path) -> None:
    result = CliRunner().invoke(app, ["hub", "list", "--tag", "space"])
    assert result.exit_code == 0, result.output
    assert "lunar-night-lander" in result.output


def test_faq_prints_score_and_verdict_per_question(drux_env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (drux_env / "project.toml").write_text(
        '[models.alpha]\nprovider = "ollama"\nfamily = "fa"\n'
        '[models.beta]\nprovider = "ollama"\nfamily = "fb"\n')
    providers = {m: ScriptedProvider(m, [Reply("Because the sky scatters blue light.")])
                 for m in ("alpha", "beta")}
    monkeypatch.setattr(Services, "from_settings", classmethod(
        lambda cls, settings=None: cls(load_config(settings), provider_factory=factory(providers))))
    (drux_env / "good-one.md").write_text(GOOD)
    runner = CliRunner()
    assert runner.invoke(app, ["hub", "import", str(drux_env / "good-one.md")]).exit_code == 0

    result = runner.invoke(app, ["hub", "faq", "good-one", "--models", "alpha,beta"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # the progress goes to stderr
    assert lines[0] == "- Why?" and lines[2] == "- How?"
    assert lines[1].startswith("    score ") and "strong consensus" in lines[1]
    assert providers["alpha"].calls == 2
    # Nothing was printed for ~20 s per question: now each step, as plain lines when piped.
    progress = result.stderr.splitlines()
    assert progress[:2] == ["question 1 of 2: Why?", "  asking alpha, beta"]
    assert sorted(re.sub(r"\d+\.\d", "N", line) for line in progress[2:4]) == [
        "  alpha: done in Ns", "  beta: done in Ns"]
    assert progress[4:6] == ["question 2 of 2: How?", "  asking alpha, beta"]
    # Each score line lands as its question ends, before the next question starts.
    assert result.output.index("    score ") < result.output.index("question 2 of 2")

    shown = runner.invoke(app, ["hub", "show", "good-one"])
    assert shown.exit_code == 0 and shown.output.count("strong consensus") == 2


def test_faq_progress_on_a_terminal_is_one_live_line_per_question() -> None:
    import io

    from rich.console import Console

    from drux.cli.faq_progress import FaqProgress
    from drux.hub.faq import FaqStep
    from drux.panel import Started
    from drux.services.ask import AskCreated, AskDone

    out = io.StringIO()
    progress = FaqProgress(console=Console(file=out, force_terminal=True, width=80))
    created = AskCreated("id1", ["alpha", "beta"], {"alpha": "fa", "beta": "fb"}, [], None)
    progress(FaqStep(1, 3, "Why?", created))
    progress(FaqStep(1, 3, "Why?", Started("alpha")))
    shown = progress._render().plain
    assert shown.startswith("question 1 of 3: Why?\n") and "answering: alpha, beta" in shown
    assert progress.live is not None  # live, not plain lines
    progress(FaqStep(1, 3, "Why?", AskDone("id1", "complete")))  # type: ignore[arg-type]
    assert progress.live is None  # gone before the score line is printed
    assert "asking" not in out.getvalue()
