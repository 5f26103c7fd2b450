"""Offline models on llama-cpp-python.

    llama.py     importing llama.cpp the way drux runs it, and loading a file
    pool.py      the loaded models of a process (``LocalModelPool``, ``LoadedModel``)
    channel.py   text from the worker thread to the event loop (``TokenChannel``)
    stops.py     cutting the text at stop strings split across tokens (``StopScanner``)
    generate.py  the prompt and the token loop of one generation
    provider.py  ``LocalProvider``, and ``create``, the factory ``build_provider`` calls
"""

from drux.providers.local.generate import FEWSHOT_EXAMPLES, fewshot_prompt
from drux.providers.local.llama import import_llama
from drux.providers.local.pool import LoadedModel, LocalModelPool
from drux.providers.local.provider import (
    MAX_CONTEXT,
    LocalProvider,
    context_window,
    create,
    resolve_threads,
)

__all__ = [
    "FEWSHOT_EXAMPLES",
    "MAX_CONTEXT",
    "LoadedModel",
    "LocalModelPool",
    "LocalProvider",
    "context_window",
    "create",
    "fewshot_prompt",
    "import_llama",
    "resolve_threads",
]
