"""The models loaded in a process.

A ``LocalModelPool`` owns them: one ``Llama`` per (file, threads, window), loaded
on first use and reused by every provider instance and every ask. A llama.cpp
context is not re-entrant, so each loaded model admits one generation at a time
(``LoadedModel.lock``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from drux.errors import BadRequestError, ConfigError
from drux.providers._fairlock import FairLock
from drux.providers.local.llama import load_llama

if TYPE_CHECKING:
    from llama_cpp import Llama


class LoadedModel:
    """One model in memory. Hold ``lock`` while generating or touching its context."""

    def __init__(self, llm: Llama, path: Path) -> None:
        import llama_cpp

        self.llm = llm
        self.path = path
        self.lock = FairLock()  # asks queued on the model are served in arrival order
        self.n_ctx: int = llm.n_ctx()
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._token_text = llama_cpp.llama_vocab_get_text
        self._chat_formatter: Any = None

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    def is_end(self, token: int) -> bool:
        """End of generation: EOS, or the template's end-of-turn token."""
        return bool(self._is_eog(self._vocab, token))

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Prompt tokens and stop strings from the chat template stored in the GGUF file."""
        if self._chat_formatter is None:
            self._chat_formatter = self._make_chat_formatter()
        try:
            result = self._chat_formatter(messages=messages)
        except Exception as exc:  # jinja2 errors and the template's raise_exception
            raise BadRequestError(f"{self.path.name}: its chat template rejected the messages: {exc}") from None
        tokens = self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                                   special=True)
        stops = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, [s for s in stops if s]

    def text_prompt(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def _make_chat_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(f"{self.path.name} has no chat template; configure it with "
                              f'template = "fewshot"')

        def text(token: int) -> str:
            return self._token_text(self._vocab, token).decode("utf-8") if token != -1 else ""

        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        return Jinja2ChatFormatter(template=template, eos_token=text(eos), bos_token=text(bos))

    def close(self) -> None:
        self.llm.close()


class LocalModelPool:
    """The loaded models of one process, keyed by (file, threads, window).

    ``LocalModelPool.shared()`` is the process-wide pool the ``create`` factory
    uses; pass your own to ``LocalProvider`` to isolate models. ``close()``
    frees every model; call it at shutdown, after the streams have ended.
    """

    _shared: ClassVar[LocalModelPool | None] = None
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._models: dict[tuple[str, int, int], LoadedModel] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> LocalModelPool:
        with cls._shared_guard:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def get(self, path: Path, *, threads: int, n_ctx: int) -> LoadedModel:
        """The loaded model for ``path``, loading it on first use. Blocking: call off the loop."""
        key = (str(path.resolve()), threads, n_ctx)
        with self._lock:  # one load at a time, so a file is never loaded twice
            model = self._models.get(key)
            if model is None:
                model = LoadedModel(load_llama(path, threads, n_ctx), path)
                self._models[key] = model
            return model

    def __len__(self) -> int:
        return len(self._models)

    def close(self) -> None:
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            with model.lock:
                model.close()
