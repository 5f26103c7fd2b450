"""Importing and loading llama-cpp-python the way drux runs it.

Import ``Llama`` through ``import_llama`` only: it sets the OpenMP wait policy
before llama.cpp loads, routes llama.cpp's own log lines to logging and switches
off llama-cpp-python's process-wide stdout/stderr redirection.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from drux.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    from llama_cpp import Llama


class _NativeLog:
    """Routes llama.cpp's own log lines (printed to stderr even with ``verbose=False``)
    to the ``drux.llama`` logger at DEBUG; failures reach callers as exceptions."""

    _callback: ClassVar[Any] = None

    @classmethod
    def install(cls) -> None:
        if cls._callback is not None:
            return
        import llama_cpp

        log = logging.getLogger("drux.llama")

        def forward(level: int, text: bytes, user_data: Any) -> None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s", text.decode("utf-8", "replace").rstrip())

        cls._callback = llama_cpp.llama_log_callback(forward)  # kept alive: C holds the pointer
        llama_cpp.llama_log_set(cls._callback, ctypes.c_void_p(0))


def _keep_stdout_stderr() -> None:
    """With ``verbose=False`` llama-cpp-python points fds 1 and 2 and ``sys.stdout``/``stderr``
    at /dev/null while a model loads: process-wide and not thread-safe, so whatever other
    threads printed meanwhile vanished (``drux ask --timeout 0.01`` printed nothing at all)
    and overlapping loads could leave them there for good. llama.cpp's own log lines
    already go to ``_NativeLog``, so the redirection is switched off."""
    import llama_cpp._internals as internals
    import llama_cpp.llama as llama_module

    for module in (internals, llama_module):
        if hasattr(module, "suppress_stdout_stderr"):
            setattr(module, "suppress_stdout_stderr",  # noqa: B010
                    lambda disable=True: contextlib.nullcontext())


def import_llama() -> type[Llama]:
    """Import llama-cpp-python the way drux runs it; import it through here, not directly.

    Idle OpenMP threads of llama.cpp spin for a while by default. A panel runs
    several models on few cores, and spinning threads then take the CPU from the
    ones working: on 2 busy cores the default panel answering at once took about
    3x longer with libgomp's default wait (``bench/local.py --omp``). libgomp
    reads the variable once, when llama.cpp loads; a value the user set wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError("llama-cpp-python is not installed; run `make install`") from None
    _NativeLog.install()
    _keep_stdout_stderr()
    return Llama


def load_llama(path: Path, threads: int, n_ctx: int) -> Llama:
    Llama = import_llama()
    try:
        return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                     verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise WeightsError(f"llama.cpp cannot load {path}: {exc}; delete it and run `make models`") from None
