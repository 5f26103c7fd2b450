"""drux.toml parsing and provider keys, and a vendor defined only in TOML
answering through the OpenAI adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from drux.config import Settings, load_config, store_key
from drux.errors import ConfigError, MissingKeyError, UnknownModelError
from drux.providers import build_provider
from drux.types import ChatRequest, Message

from fakes import FakeServer, Reply


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
                "ACME_KEY"):
        monkeypatch.delenv(var, raising=False)
    return Settings(data_dir=tmp_path / "data", user_config=tmp_path / "user.toml",
                    project_config=tmp_path / "drux.toml", keys_file=tmp_path / "keys.json")


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_no_files_gives_the_builtin_catalog(settings: Settings) -> None:
    config = load_config(settings)
    assert "gpt-4.1" in config.catalog.models
    assert config.catalog.panel("default") == ("smollm2-135m", "qwen2.5-0.5b", "gemma3-270m")
    assert config.explicit_keys == {}


def test_models_providers_and_panels_are_read(settings: Settings) -> None:
    write(settings.project_config, """
[providers.mistral]
base_url = "http://127.0.0.1:9/v1"

[models.my-gpt]
provider = "openai"
model = "gpt-4.1-mini"
input_price = 0.4
output_price = 1.6
system = "Be brief."
temperature = 0.2
max_tokens = 99
fallbacks = ["claude-haiku-3.5"]

[models."gpt-4.1"]
output_price = 9.0

[panels]
duo = ["my-gpt", "mistral-small"]
""")
    config = load_config(settings)
    mine = config.catalog.model("my-gpt")
    assert (mine.vendor, mine.upstream, mine.family) == ("openai", "gpt-4.1-mini", "openai")
    assert (mine.system, mine.temperature, mine.max_tokens) == ("Be brief.", 0.2, 99)
    assert mine.fallbacks == ("claude-haiku-3.5",)
    assert mine.cost(1_000_000, 1_000_000) == pytest.approx(2.0)
    assert config.catalog.model("gpt-4.1").output_price == 9.0
    assert config.catalog.model("gpt-4.1").input_price == 2.0  # untouched fields stay
    assert config.catalog.vendor("mistral").base_url == "http://127.0.0.1:9/v1"
    assert config.catalog.vendor("mistral").key_env == "MISTRAL_API_KEY"
    assert config.catalog.panel("duo") == ("my-gpt", "mistral-small")


def test_project_file_overrides_user_file(settings: Settings) -> None:
    write(settings.user_config, '[panels]\nmine = ["gpt-4.1"]\n[models."gpt-4.1"]\noutput_price = 1.0\n')
    write(settings.project_config, '[panels]\nmine = ["claude-sonnet-4"]\n')
    config = load_config(settings)
    assert config.catalog.panel("mine") == ("claude-sonnet-4",)
    assert config.catalog.model("gpt-4.1").output_price == 1.0


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[models.x\nprovider = 'openai'", "cannot read"),
        ('[models.x]\nprovider = "openai"\nprice = 3\n', "unknown keys: price"),
        ('[providers.openai]\nbase-url = "http://127.0.0.1:1"\n', "unknown keys: base-url"),
        ('[providers.acme]\napi_key_env = "ACME_KEY"\n', "needs base_url"),
        ('[providers.acme]\nbase_url = "http://127.0.0.1:1"\nprotocol = "soap"\n', "protocol"),
        ('[providers]\nacme = "http://x"\n', "must be a table"),
        ('[models.x]\nmodel = "y"\n', "needs provider"),
        ('[models.x]\nprovider = "nobody"\n', "unknown provider"),
        ('[models.x]\nprovider = "openai"\nfallbacks = ["ghost"]\n', "unknown model 'ghost'"),
        ('[panels]\np = ["gpt-4.1", "ghost"]\n', "unknown model 'ghost'"),
        ('[panels]\np = "gpt-4.1"\n', "list of model names"),
        ('[models.gpt-4.1]\noutput_price = 1.0\n', 'quote model ids'),
        # Wrong types once passed silently or ended as "unexpected AttributeError/ValueError".
        ("providers = 3\n", r"\[providers\] must be a table"),
        ("models = []\n", r"\[models\] must be a table"),
        ("panels = 3\n", r"\[panels\] must be a table"),
        ('[providers.acme]\nbase_url = 3\n', "base_url must be a string"),
        ('[providers.acme]\nbase_url = "127.0.0.1:1"\n', "http://"),
        # Accepted, then "unexpected InvalidURL" (or a DNS lookup of "") at the first request.
        ('[providers.acme]\nbase_url = "http://[::1"\n', "naming a host"),
        ('[providers.acme]\nbase_url = "http://h:abc/v1"\n', "naming a host"),
        ('[providers.acme]\nbase_url = "http://h:99999/v1"\n', "naming a host"),
        ('[providers.acme]\nbase_url = "http://"\n', "naming a host"),
        ('[providers.acme]\nbase_url = "http://h\\n/v1"\n', "naming a host"),
        ('[providers.openai]\npaid = "yes"\n', "paid must be true or false"),
        ('[models.x]\nprovider = "openai"\ninput_price = "cheap"\n', "input_price must be"),
        ('[models.x]\nprovider = "openai"\noutput_price = -1\n', "output_price must be"),
        ('[models.x]\nprovider = "openai"\nequivalents = 3\n', "equivalents must be"),
        ('[models.x]\nprovider = "openai"\nfallbacks = "gpt-4.1"\n', "fallbacks must be"),
        ('[models.x]\nprovider = "openai"\ntemperature = "hot"\n', "temperature must be"),
        ('[models.x]\nprovider = "openai"\nmax_tokens = 0\n', "max_tokens must be"),
        ('[models.x]\nprovider = "openai"\ntemplate = "zz"\n', "template must be"),
        ('[panels.p]\nmodels = ["gpt-4.1"]\ntemperature = 9\n', "temperature must be"),
        # A tiny window failed the local model with llama.cpp's own message.
        ('[models.smollm2-135m]\ncontext = 40\n', "context must be a whole number of tokens"),
        # Ids that `--models a,b` can never name.
        ('[models.""]\nprovider = "openai"\n', "cannot be used"),
        ('[models."a,b"]\nprovider = "openai"\n', "cannot be used"),
        ('[models."a\\tb"]\nprovider = "openai"\n', "cannot be used"),
    ],
    ids=["bad-toml", "model-key", "provider-key", "new-provider", "protocol", "provider-table",
         "no-provider", "unknown-provider", "fallback", "panel-member", "panel-type",
         "dotted-id", "providers-type", "models-type", "panels-type", "base-url-type",
         "base-url-scheme", "base-url-ipv6", "base-url-port", "base-url-port-range",
         "base-url-no-host", "base-url-control", "paid-type", "price-type", "price-negative",
         "equivalents-type", "fallbacks-type", "temperature-type", "max-tokens-range", "template", "panel-temperature",
         "context-tiny", "id-empty", "id-comma", "id-control"],
)
def test_bad_config_is_one_clear_config_error(settings: Settings, text: str, complaint: str) -> None:
    write(settings.project_config, text)
    with pytest.raises(ConfigError, match=complaint) as info:
        load_config(settings)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("content", "complaint"),
                         [(b"\x9e\xff\x00garbage", "not UTF-8"),
                          (b"[a]\nb = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply")])
def test_unreadable_toml_bytes_are_a_config_error(settings: Settings, content: bytes,
                                                  complaint: str) -> None:
    # Were "unexpected UnicodeDecodeError" / "unexpected RecursionError".
    settings.project_config.write_bytes(content)
    with pytest.raises(ConfigError, match=complaint):
        load_config(settings)
    from drux.gateway.settings import load_gateway_settings

    with pytest.raises(ConfigError, match=complaint):
        load_gateway_settings(settings)


def test_a_folder_where_a_config_or_keys_file_should_be_is_a_config_error(
        settings: Settings) -> None:
    # Both were skipped in silence: the settings in drux.toml did not apply, stored keys
    # were all reported missing.
    from drux.config import stored_keys

    settings.user_config.mkdir()
    with pytest.raises(ConfigError, match=r"a folder, not a drux\.toml file"):
        load_config(settings)
    settings.keys_file.mkdir()
    with pytest.raises(ConfigError, match=r"cannot read stored keys .*a folder"):
        stored_keys(settings)


@pytest.mark.parametrize("value", ["null", "123", '{"k": "sk-SECRET"}'])
def test_a_stored_key_that_is_not_a_string_is_a_config_error(settings: Settings,
                                                             value: str) -> None:
    # null became the key "None": the model was listed usable and "None" sent upstream.
    from drux.config import stored_keys

    settings.keys_file.write_text(f'{{"openai": {value}}}')
    with pytest.raises(ConfigError, match="the key for 'openai' is not a string") as info:
        stored_keys(settings)
    assert "SECRET" not in str(info.value)


def test_unknown_model_and_panel_names(settings: Settings) -> None:
    catalog = load_config(settings).catalog
    with pytest.raises(UnknownModelError, match="known models"):
        catalog.model("gpt-9")
    with pytest.raises(UnknownModelError, match="known panels"):
        catalog.panel("nope")


def test_explicit_key_wins_over_environment(settings: Settings,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-env")
    write(settings.project_config, '[providers.openai]\napi_key = "from-toml"\n')
    config = load_config(settings)
    assert config.require_key(config.catalog.vendor("openai")) == "from-toml"
    assert config.require_key(config.catalog.vendor("anthropic")) == "anthropic-env"


def test_stored_key_sits_between_explicit_and_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-env")
    store_key(settings, "openai", "stored-openai")
    store_key(settings, "mistral", "stored-mistral")
    write(settings.project_config, '[providers.mistral]\napi_key = "from-toml"\n')
    config = load_config(settings)
    assert config.require_key(config.catalog.vendor("openai")) == "stored-openai"
    assert config.require_key(config.catalog.vendor("mistral")) == "from-toml"


def test_stored_keys_file_is_0600_even_over_a_leftover_tmp_file(settings: Settings,
                                                                 tmp_path: Path) -> None:
    # A leftover keys.tmp kept its 0644 mode (O_CREAT does not change it) and became the
    # keys file; a symlink there was followed.
    leftover = settings.keys_file.with_suffix(".tmp")
    leftover.write_text("{}")
    leftover.chmod(0o644)
    store_key(settings, "openai", "sk-one")
    assert settings.keys_file.stat().st_mode & 0o777 == 0o600
    target = tmp_path / "elsewhere"
    leftover.symlink_to(target)
    store_key(settings, "openai", "sk-two")
    assert not target.exists() and not settings.keys_file.is_symlink()
    assert settings.keys_file.stat().st_mode & 0o777 == 0o600


def test_missing_key_names_the_variable_and_local_servers_need_none(settings: Settings) -> None:
    config = load_config(settings)
    with pytest.raises(MissingKeyError, match="GEMINI_API_KEY"):
        config.require_key(config.catalog.vendor("gemini"))
    assert config.require_key(config.catalog.vendor("ollama")) == "not-needed"


def test_a_key_no_http_header_can_carry_is_refused_without_showing_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx quoted such a key in "Illegal header value b'Bearer ...'", which reached the
    # answer's error message and the database.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET\nX")
    write(settings.project_config, '[providers.mistral]\napi_key = "sk-SECRET é"\n')
    config = load_config(settings)
    for vendor in ("openai", "mistral"):
        with pytest.raises(ConfigError, match="HTTP header") as info:
            build_provider(config.catalog.model("gpt-4.1" if vendor == "openai"
                                                else "mistral-large"), config)
        assert "SECRET" not in str(info.value)
    from drux.services import Services

    usable, reason = Services(config).readiness(config.catalog.model("gpt-4.1"))
    assert not usable and "SECRET" not in reason


def test_building_a_cloud_model_without_its_key_fails_before_any_request(settings: Settings) -> None:
    config = load_config(settings)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        build_provider(config.catalog.model("gpt-4.1"), config)


async def test_vendor_defined_only_in_toml_answers_through_the_openai_adapter(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServer(api_key="acme-secret") as fake:
        fake.script("acme-large-2", Reply("Bonjour from Acme.", input_tokens=5, output_tokens=4))
        write(settings.project_config, f"""
[providers.acme]
base_url = "{fake.openai_url}"
api_key_env = "ACME_KEY"
family = "acme"

[models.acme-large]
provider = "acme"
model = "acme-large-2"
input_price = 1.0
output_price = 2.0

[panels]
acme = ["acme-large", "smollm2-135m"]
""")
        monkeypatch.setenv("ACME_KEY", "acme-secret")
        config = load_config(settings)
        spec = config.catalog.model("acme-large")
        assert config.catalog.vendor("acme").protocol == "openai"
        provider = build_provider(spec, config)
        try:
            answer = await provider.complete(ChatRequest([Message("user", "Salut?")]))
        finally:
            await provider.aclose()
        assert answer.text == "Bonjour from Acme."
        assert answer.deployment == "acme:acme-large-2"
        assert spec.family == "acme"
        assert spec.cost(answer.usage.input_tokens, answer.usage.output_tokens) == pytest.approx(13e-6)
        [seen] = fake.requests
        assert seen.headers["authorization"] == "Bearer acme-secret"


def test_panel_tables_carry_their_own_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from drux.config import Settings, load_config
    from drux.errors import ConfigError

    path = tmp_path / "drux.toml"
    path.write_text('[panels.careful]\nmodels = ["smollm2-135m"]\nsystem = "Be brief."\n'
                    'temperature = 0.1\nmax_tokens = 64\n')
    settings = Settings(user_config=tmp_path / "none.toml", project_config=path)
    config = load_config(settings)
    assert config.catalog.panels["careful"] == ("smollm2-135m",)
    options = config.catalog.panel_options["careful"]
    assert (options.system, options.temperature, options.max_tokens) == ("Be brief.", 0.1, 64)
    path.write_text('[panels.bad]\nmodels = ["smollm2-135m"]\ncolour = "red"\n')
    with pytest.raises(ConfigError, match="unknown keys: colour"):
        load_config(settings)
    path.write_text('[panels]\nempty = []\n')
    with pytest.raises(ConfigError, match="non-empty list"):
        load_config(settings)
