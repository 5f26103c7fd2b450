"""Settings (environment, ``DRUX_*``) and ``drux.toml`` (models, panels, providers).

One ``Settings`` object is built at start-up and passed in; nothing reads the
environment elsewhere, except provider API keys, looked up by the variable name
the catalog gives (explicit ``api_key`` in config wins over the environment).

``drux.toml`` is read from the user config folder, then from the project folder
(the current directory), the later overriding the earlier::

    [providers.mistral]
    base_url = "https://api.mistral.ai/v1"
    api_key_env = "MISTRAL_API_KEY"

    [models.my-gpt]
    provider = "openai"          # a vendor name from the catalog or [providers]
    model = "gpt-4.1-mini"       # the vendor's model id
    family = "openai"
    input_price = 0.4            # USD per million tokens
    output_price = 1.6
    fallbacks = ["claude-haiku-3.5"]

    [panels]
    default = ["smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"]

    [panels.careful]             # a panel with its own request settings
    models = ["gpt-4.1-mini", "claude-haiku-3.5"]
    system = "Answer in one sentence."
    temperature = 0.0
    max_tokens = 120
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import platformdirs
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from drux.catalog import Catalog, ModelSpec, PanelOptions, Protocol, VendorSpec
from drux.errors import ConfigError, MissingKeyError
from drux.validation import (
    Count,
    Flag,
    Names,
    Price,
    Temperature,
    Text,
    Unit,
    config_error,
    first_problem,
)

T = TypeVar("T", bound=BaseModel)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRUX_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("drux")))
    cache_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir("drux")))
    # SQLAlchemy URL; default is SQLite (WAL) at data_dir/drux.db. Not in repr: it may
    # hold a password.
    database_url: str | None = Field(default=None, repr=False)
    # redis://host:port/db. Set, drux runs as a cluster: limits, budgets, breakers, live ask
    # events and the job queue are shared through it. Unset, they live in this process. Not in
    # repr: it may hold a password.
    redis_url: str | None = Field(default=None, repr=False)
    user_config: Path = Field(
        default_factory=lambda: Path(platformdirs.user_config_dir("drux")) / "drux.toml"
    )
    # Provider API keys saved with `drux provider-keys set` (a 0600 file, never the database).
    keys_file: Path = Field(
        default_factory=lambda: Path(platformdirs.user_config_dir("drux")) / "keys.json"
    )
    project_config: Path = Path("drux.toml")
    panel: str = "default"
    timeout: float = Field(default=180.0, gt=0, allow_inf_nan=False)
    max_tokens: int = Field(default=200, ge=1)
    temperature: Temperature = 0.0
    # llama.cpp threads per model; 0 means all cores. Above llama.cpp's GGML_MAX_N_THREADS
    # (512) the process crashed with a segmentation fault, leaving the ask "running".
    threads: int = Field(default=0, ge=0, le=512)
    # Background health probes in `drux serve` (seconds between probes of one
    # deployment; 0 = off). Paid vendors are probed only with probe_paid.
    probe_interval: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    probe_paid: bool = False
    # Gateway and web server.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'drux.db'}"


@dataclass
class AppConfig:
    settings: Settings
    catalog: Catalog
    # Explicit keys from drux.toml, by vendor name. Never printed or stored (nor in repr).
    explicit_keys: dict[str, str] = field(repr=False)
    # The raw [routing] table (retry, breaker, hedge, deadlines); routing validates it.
    routing: dict[str, Any] = field(default_factory=dict)

    def api_key(self, vendor: VendorSpec) -> str | None:
        """Explicit config, then stored keys, then the environment; ``None`` if none."""
        key = self.explicit_keys.get(vendor.name) or stored_keys(self.settings).get(vendor.name)
        if key:
            return key
        if vendor.key_env:
            env = os.environ.get(vendor.key_env)
            if env:
                return env
        return None

    def require_key(self, vendor: VendorSpec) -> str:
        key = self.api_key(vendor)
        if key:
            if not is_header_safe(key):  # the HTTP client would quote it in its error message
                raise ConfigError(f"the API key for {vendor.name} has characters an HTTP header "
                                  "cannot carry (spaces, control or non-ASCII); set it again "
                                  "(the key is not shown)")
            return key
        if not vendor.key_required:
            return "not-needed"
        where = f"set {vendor.key_env}" if vendor.key_env else f"set providers.{vendor.name}.api_key"
        raise MissingKeyError(f"no API key for {vendor.name}: {where}")


def is_header_safe(key: str) -> bool:
    """A key must be printable ASCII without spaces to travel in an HTTP header."""
    return all(33 <= ord(c) <= 126 for c in key)


def stored_keys(settings: Settings) -> dict[str, str]:
    path = settings.keys_file
    if path.is_dir():  # was read as "no stored keys", every key reported missing
        raise ConfigError(f"cannot read stored keys {path}: a folder, not a file")
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read stored keys {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"stored keys file {path} must hold a JSON object")
    for vendor, key in data.items():
        if not isinstance(key, str):  # null was read as the key "None" and sent upstream
            raise ConfigError(f"stored keys file {path}: the key for {vendor!r} is not a string "
                              "(the value is not shown); fix or delete the file")
    return dict(data)


def store_key(settings: Settings, vendor: str, key: str | None) -> None:
    """Save (or with ``None`` remove) a provider key in the 0600 keys file."""
    keys = stored_keys(settings)
    if key is None:
        keys.pop(vendor, None)
    else:
        keys[vendor] = key
    path = settings.keys_file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh file: a leftover .tmp would keep its own mode (0644) or be a symlink.
        path.with_suffix(".tmp").unlink(missing_ok=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh)
        os.replace(path.with_suffix(".tmp"), path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():  # was skipped in silence: none of the settings meant for it applied
        raise ConfigError(f"cannot read {path}: a folder, not a drux.toml file")
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {path}: not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"cannot read {path}: values nested too deeply") from None


MIN_CONTEXT = 256  # no real model has a smaller window; llama.cpp fails oddly below it


def _http_url(url: str) -> str:
    if not _is_http_url(url):
        raise ValueError("must be a URL starting with http:// or https:// and naming a host "
                         "(a port, if any, from 0 to 65535)")
    return url


# The drux.toml tables. A key left out is left as it was (the catalog's value or the
# default): ``model_fields_set`` tells what the file set.
_TABLE_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True)


class ProviderTable(BaseModel):
    """``[providers.<name>]``: a vendor of the catalog changed, or a new one."""

    model_config = _TABLE_CONFIG
    base_url: Annotated[Text, AfterValidator(_http_url)] | None = None
    api_key_env: Text | None = None
    api_key: Text | None = Field(default=None, repr=False)
    family: Text | None = None
    protocol: Protocol | None = None
    paid: Flag | None = None
    key_required: Flag | None = None


class ModelTable(BaseModel):
    """``[models.<id>]``: a model of the catalog changed, or a new one."""

    model_config = _TABLE_CONFIG
    provider: Text | None = None
    model: Text | None = None
    family: Text | None = None
    context: Annotated[int, Field(ge=MIN_CONTEXT), Unit("tokens")] | None = None
    input_price: Price | None = None
    output_price: Price | None = None
    system: Text | None = None
    temperature: Temperature | None = None
    max_tokens: Count | None = None
    fallbacks: Names | None = None
    equivalents: Names | None = None
    description: Text | None = None
    template: Literal["chat", "fewshot"] | None = None


class PanelTable(BaseModel):
    """``[panels.<name>]``: the members and the panel's own request settings; the short form
    ``<name> = [...]`` under ``[panels]`` gives only the members."""

    model_config = _TABLE_CONFIG
    models: Annotated[Names, Field(min_length=1)]
    system: Text | None = None
    temperature: Temperature | None = None
    max_tokens: Count | None = None


_PROVIDER_FIELDS = {"base_url": "base_url", "api_key_env": "key_env", "family": "family",
                    "protocol": "protocol", "paid": "paid", "key_required": "key_required"}
_MODEL_FIELDS = {
    "provider": "vendor", "model": "upstream", "family": "family", "context": "context",
    "input_price": "input_price", "output_price": "output_price", "system": "system",
    "temperature": "temperature", "max_tokens": "max_tokens", "fallbacks": "fallbacks",
    "equivalents": "equivalents", "description": "description", "template": "template",
}


def _table(kind: type[T], raw: dict[str, Any], where: str) -> T:
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, kind, where) from None


def _is_http_url(url: str) -> bool:
    # The HTTP clients reject these only at the first request, as "unexpected InvalidURL".
    if not url.startswith(("http://", "https://")) or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:  # "http://[::1" or a port that is not a number from 0 to 65535
        return False
    return bool(parts.hostname)


def _apply_providers(catalog: Catalog, table: dict[str, Any], keys: dict[str, str]) -> None:
    for name, raw in table.items():
        given = _table(ProviderTable, raw, f"providers.{name}")
        values = given.model_dump(include=given.model_fields_set)
        base = catalog.vendors.get(name)
        if base is None:
            if given.protocol is None and given.base_url is None:
                raise ConfigError(f"new provider {name!r} needs base_url (OpenAI-compatible) or protocol")
            base = VendorSpec(name, given.protocol or "openai", given.family or name)
        if given.api_key is not None:
            keys[name] = given.api_key
        changes = {_PROVIDER_FIELDS[k]: v for k, v in values.items() if k in _PROVIDER_FIELDS}
        catalog.vendors[name] = replace(base, **changes)


def _apply_models(catalog: Catalog, table: dict[str, Any]) -> None:
    for model_id, raw in table.items():
        if not model_id.strip() or "," in model_id or not model_id.isprintable():
            raise ConfigError(f"[models] the model id {model_id!r} cannot be used: ids are "
                              "non-empty printable text with no commas (--models splits on them)")
        nested = next((k for k, v in raw.items() if isinstance(v, dict)), None) \
            if isinstance(raw, dict) else None
        if nested is not None:
            # [models.gpt-4.1] is models -> "gpt-4" -> "1" in TOML.
            raise ConfigError(f'[models.{model_id}.{nested}]: quote model ids that contain dots, '
                              f'as in [models."{model_id}.{nested}"]')
        given = _table(ModelTable, raw, f"models.{model_id}")
        fields = {_MODEL_FIELDS[k]: v for k, v in
                  given.model_dump(include=given.model_fields_set).items()}
        for seq in ("fallbacks", "equivalents"):
            if seq in fields:
                fields[seq] = tuple(fields[seq])
        existing = catalog.models.get(model_id)
        if existing is not None:
            catalog.models[model_id] = replace(existing, **fields)
            continue
        if "vendor" not in fields:
            raise ConfigError(f"[models.{model_id}] needs provider = \"...\"")
        vendor = catalog.vendor(fields["vendor"])
        fields.setdefault("upstream", model_id)
        fields.setdefault("family", vendor.family)
        catalog.models[model_id] = ModelSpec(id=model_id, **fields)


def _apply_panel(catalog: Catalog, name: str, value: Any) -> None:
    """``name = ["a", "b"]``, or a table ``[panels.name]`` with ``models`` and the
    panel's own ``system``, ``temperature`` and ``max_tokens``."""
    if isinstance(value, dict):
        panel = _table(PanelTable, value, f"panels.{name}")
    else:
        try:
            panel = PanelTable(models=value)
        except ValidationError as exc:  # the short form: the value is the panel's
            raise ConfigError(f"[panels] {name} {first_problem(exc, PanelTable).text}") from None
    catalog.panels[name] = tuple(panel.models)
    catalog.panel_options[name] = PanelOptions(system=panel.system, temperature=panel.temperature,
                                               max_tokens=panel.max_tokens)


def _validate(catalog: Catalog) -> None:
    for spec in catalog.models.values():
        if spec.vendor not in catalog.vendors:
            raise ConfigError(f"model {spec.id!r} names unknown provider {spec.vendor!r}")
        for other in (*spec.fallbacks, *spec.equivalents):
            if other not in catalog.models:
                raise ConfigError(f"model {spec.id!r} falls back to unknown model {other!r}")
    for name, members in catalog.panels.items():
        for member in members:
            if member not in catalog.models:
                raise ConfigError(f"panel {name!r} names unknown model {member!r}")


def load_config(settings: Settings | None = None) -> AppConfig:
    settings = settings or Settings()
    catalog = Catalog.builtin()
    keys: dict[str, str] = {}
    routing: dict[str, Any] = {}
    for path in (settings.user_config, settings.project_config):
        data = _read_toml(path)
        table = data.get("routing", {})
        if not isinstance(table, dict):
            raise ConfigError("[routing] must be a table")
        routing.update(table)
        for name in ("providers", "models", "panels"):
            if not isinstance(data.get(name, {}), dict):
                raise ConfigError(f"[{name}] must be a table")
        _apply_providers(catalog, data.get("providers", {}), keys)
        _apply_models(catalog, data.get("models", {}))
        for name, value in data.get("panels", {}).items():
            _apply_panel(catalog, name, value)
    _validate(catalog)
    return AppConfig(settings=settings, catalog=catalog, explicit_keys=keys, routing=routing)
