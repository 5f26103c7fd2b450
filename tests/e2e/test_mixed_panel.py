"""A mixed panel end to end through the real `drux` command: two cloud vendors (wire-level
fakes on 127.0.0.1, reached through the real openai and anthropic SDKs) plus the real local
SmolLM2. One vendor answers 404 model_not_found: the panel still answers, and the stored
record says which model failed and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import Fail, FakeServer, Reply

DRUX = str(Path(sys.executable).with_name("drux"))


@pytest.mark.e2e
def test_mixed_panel_survives_a_withdrawn_model(tmp_path: Path) -> None:
    with FakeServer(api_key="test-key") as server:
        server.script("gpt-fake", Reply(text="Paris is the capital of France."))
        server.script("claude-fake", Fail("not_found"))
        (tmp_path / "drux.toml").write_text(f"""
[providers.oaifake]
base_url = "{server.openai_url}"
api_key_env = "FAKE_OAI_KEY"
family = "openai"

[providers.anthfake]
protocol = "anthropic"
base_url = "{server.anthropic_url}"
api_key_env = "FAKE_ANTH_KEY"
family = "anthropic"

[models.gpt-fake]
provider = "oaifake"
input_price = 2.0
output_price = 8.0

[models.claude-fake]
provider = "anthfake"

[panels]
mixed = ["gpt-fake", "claude-fake", "smollm2-135m"]
""")
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(DRUX_DATA_DIR=str(tmp_path / "data"), DRUX_USER_CONFIG=str(tmp_path / "u.toml"),
                   DRUX_PROJECT_CONFIG=str(tmp_path / "drux.toml"),
                   DRUX_KEYS_FILE=str(tmp_path / "k.json"),
                   FAKE_OAI_KEY="test-key", FAKE_ANTH_KEY="test-key")
        proc = subprocess.run(
            [DRUX, "ask", "What is the capital of France?", "--panel", "mixed", "--json",
             "--max-tokens", "24"],
            capture_output=True, text=True, env=env, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        answers = {a["model"]: a for a in record["answers"]}
        assert answers["gpt-fake"]["status"] == "done"
        assert answers["gpt-fake"]["text"] == "Paris is the capital of France."
        assert answers["gpt-fake"]["usage"]["input_tokens"] > 0
        assert answers["gpt-fake"]["cost_usd"] > 0
        assert answers["smollm2-135m"]["status"] == "done"
        assert answers["smollm2-135m"]["text"].strip()
        failed = answers["claude-fake"]
        assert failed["status"] == "failed"
        assert failed["error"]["type"] in ("model_not_found", "all_deployments_failed")
        assert "404" in json.dumps(failed["error"]) or failed["error"]["status"] == 404
        assert record["consensus"]["score"] is not None  # two answers were scored
        # The fakes saw real SDK traffic with our key, and the key is in no output.
        assert server.requests_for(model="gpt-fake")
        assert server.requests_for(model="claude-fake")
        assert "test-key" not in proc.stdout


@pytest.mark.e2e
def test_withdrawn_model_is_answered_by_its_fallback_and_labelled(tmp_path: Path) -> None:
    with FakeServer(api_key="test-key") as server:
        server.script("primary-x", Fail("not_found"))
        server.script("backup-y", Reply(text="The capital of France is Paris."))
        (tmp_path / "drux.toml").write_text(f"""
[providers.oaifake]
base_url = "{server.openai_url}"
api_key_env = "FAKE_OAI_KEY"
family = "openai"

[providers.anthfake]
protocol = "anthropic"
base_url = "{server.anthropic_url}"
api_key_env = "FAKE_ANTH_KEY"
family = "anthropic"

[models.primary-x]
provider = "oaifake"
fallbacks = ["backup-y"]

[models.backup-y]
provider = "anthfake"
input_price = 1.0
output_price = 5.0

[panels]
cont = ["primary-x", "smollm2-135m"]
""")
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(DRUX_DATA_DIR=str(tmp_path / "data"), DRUX_USER_CONFIG=str(tmp_path / "u.toml"),
                   DRUX_PROJECT_CONFIG=str(tmp_path / "drux.toml"),
                   DRUX_KEYS_FILE=str(tmp_path / "k.json"), COLUMNS="160",
                   FAKE_OAI_KEY="test-key", FAKE_ANTH_KEY="test-key")
        proc = subprocess.run(
            [DRUX, "ask", "What is the capital of France?", "--panel", "cont", "--json",
             "--max-tokens", "24"], capture_output=True, text=True, env=env, timeout=300,
            check=False)
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        answer = next(a for a in record["answers"] if a["model"] == "primary-x")
        assert answer["status"] == "done"
        assert answer["text"] == "The capital of France is Paris."
        assert answer["substituted_for"] == "primary-x"
        assert answer["answered_by"] == "backup-y"
        assert answer["deployment"] == "anthfake:backup-y"
        assert answer["cost_usd"] > 0  # priced as the model that answered
        # The substitute votes as its own family, not as the withdrawn model's.
        assert record["consensus"]["families"]["primary-x"] == "anthropic"

        live = subprocess.run([DRUX, "show", record["id"]], capture_output=True, text=True,
                              env=env, timeout=60, check=False)
        assert "answered by backup-y instead" in live.stdout
