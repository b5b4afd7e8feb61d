"""The CPU copy a bundled model runs from: which file a name selects, when the copy is
(re)made, and the fall-back to the shipped file. llama.cpp's quantiser is replaced by a
byte copy here except in the last test, which makes the real 0.5B's copy and loads it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from kapibara.errors import BackendError, ConfigError, ModelNotFoundError
from kapibara.models import bundled as bundled_mod
from kapibara.models import quantize as q
from kapibara.models.bundled import BundledModel

PAYLOAD = b"GGUF" + b"x" * 100


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A pulled fake bundled model; quantising copies its bytes and counts the runs."""
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    model = BundledModel(name="tiny", description="test", package_prefix="kapibara-test-q-part", parts=1,
                         size=len(PAYLOAD), sha256=hashlib.sha256(PAYLOAD).hexdigest(), filename="tiny.gguf",
                         runs_as="Q4_0")
    monkeypatch.setitem(bundled_mod.BUNDLED, "tiny", model)
    path = bundled_mod.models_dir() / "tiny.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    runs: list[str] = []

    def fake_quantize(src, dst, quant, threads=None, progress=None):
        runs.append(quant)
        dst.write_bytes(b"Q40" + Path(src).read_bytes())
        return dst

    monkeypatch.setattr(q, "quantize_gguf", fake_quantize)
    return path, runs


def test_split_quant_reads_the_suffix():
    assert q.split_quant("qwen2.5-coder-0.5b") == ("qwen2.5-coder-0.5b", None)
    assert q.split_quant("qwen2.5-coder-0.5b@q4_k_m") == ("qwen2.5-coder-0.5b", "Q4_K_M")
    assert q.split_quant("x@") == ("x", None)


def test_the_shipped_file_is_one_suffix_away(tiny):
    shipped, runs = tiny
    assert q.runtime_path("tiny", "q4_k_m") == shipped
    assert runs == []


def test_a_model_measured_no_faster_runs_as_shipped_unless_asked(tiny, monkeypatch):
    shipped, runs = tiny
    monkeypatch.setitem(bundled_mod.BUNDLED, "tiny", dataclasses.replace(bundled_mod.BUNDLED["tiny"], runs_as="Q4_K_M"))
    assert q.runtime_path("tiny") == shipped and runs == []
    assert q.runtime_path("tiny", "q4_0") == q.cpu_copy_path("tiny") and runs == ["Q4_0"]


def test_the_default_is_the_cpu_copy_made_once(tiny, capsys):
    shipped, runs = tiny
    first = q.runtime_path("tiny")
    assert first == q.cpu_copy_path("tiny") and first.read_bytes() == b"Q40" + PAYLOAD
    assert "CPU copy" in capsys.readouterr().err
    assert q.runtime_path("tiny") == first and q.runtime_path("tiny", "Q4_0") == first
    assert runs == ["Q4_0"]
    marker = json.loads(first.with_name(first.name + ".source").read_text())
    assert marker["source_sha256"] == hashlib.sha256(PAYLOAD).hexdigest() and marker["quant"] == "Q4_0"


def test_a_copy_changed_or_made_by_another_llama_cpp_is_made_again(tiny, monkeypatch):
    _, runs = tiny
    copy = q.make_cpu_copy("tiny")
    copy.write_bytes(b"truncated")  # size no longer matches the marker
    assert not q.cpu_copy_ok("tiny")
    q.make_cpu_copy("tiny")
    assert q.cpu_copy_ok("tiny")
    monkeypatch.setattr(q, "_llama_version", lambda: "0.0.0-other")
    assert not q.cpu_copy_ok("tiny")
    q.runtime_path("tiny")
    assert runs == ["Q4_0", "Q4_0", "Q4_0"]


def test_a_copy_that_cannot_be_made_falls_back_to_the_shipped_file(tiny, monkeypatch, capsys):
    shipped, _ = tiny

    def broken(*args, **kwargs):
        raise BackendError("llama.cpp could not quantise (code 1)")

    monkeypatch.setattr(q, "quantize_gguf", broken)
    assert q.runtime_path("tiny") == shipped
    assert "running the shipped file" in capsys.readouterr().err
    assert not q.cpu_copy_path("tiny").exists()


def test_other_quantisations_and_unpulled_models_are_clear_errors(tiny):
    shipped, _ = tiny
    with pytest.raises(ConfigError, match="Q4_K_M .*or Q4_0"):
        q.runtime_path("tiny", "q8_0")
    shipped.unlink()
    with pytest.raises(ModelNotFoundError):
        q.runtime_path("tiny")


def test_the_real_cpu_copy_loads_and_answers():
    """The bundled 0.5B's Q4_0 copy, made by llama.cpp, loads by name and writes text."""
    from kapibara.models.llamacpp import LlamaCppModel

    try:
        bundled_mod.model_path("qwen2.5-coder-0.5b")
    except (ModelNotFoundError, bundled_mod.ModelCacheError):
        pytest.skip("the bundled 0.5B is not pulled")
    path = q.make_cpu_copy("qwen2.5-coder-0.5b")
    assert q.cpu_copy_ok("qwen2.5-coder-0.5b") and path.stat().st_size < bundled_mod.BUNDLED["qwen2.5-coder-0.5b"].size
    model = LlamaCppModel.from_name_or_path("qwen2.5-coder-0.5b", n_ctx=512, threads=2)
    assert model.path == path.resolve()
    shipped = LlamaCppModel.from_name_or_path("qwen2.5-coder-0.5b@q4_k_m", n_ctx=512, threads=2)
    assert shipped.path == bundled_mod.model_path("qwen2.5-coder-0.5b").resolve()
    out = model.chat([{"role": "user", "content": "Say OK."}], max_tokens=4)
    assert out.text.strip()


def test_tensor_types_read_as_llama_quantize_writes_them():
    assert q.parse_tensor_types(["attn_=q8_0", r"blk\.0\.ffn_down=Q6_K"]) == {"attn_": "Q8_0", r"blk\.0\.ffn_down": "Q6_K"}
    for bad in ("attn_", "=Q8_0", "attn_=Q3_Z", "attn_(=Q8_0"):
        with pytest.raises(ConfigError):
            q.parse_tensor_types([bad])


def test_cli_tensor_types_need_a_merge(tmp_path, capsys):
    from kapibara.cli import main

    assert main(["finetune", "export", str(tmp_path), "--name", "x", "--tensor-type", "attn_=Q8_0"]) == 2
    assert "--merge" in capsys.readouterr().err
    assert main(["finetune", "export", str(tmp_path), "--name", "x", "--merge", "--tensor-type", "attn_"]) == 2
    assert "PATTERN=TYPE" in capsys.readouterr().err


def test_tensor_types_give_matching_tensors_their_own_type(tmp_path):
    """Quantising the shipped 0.5B to its own type, one tensor named by an override gets
    the override's type and its neighbours keep theirs."""
    gguf = pytest.importorskip("gguf")
    try:
        shipped = bundled_mod.model_path("qwen2.5-coder-0.5b")
    except (ModelNotFoundError, bundled_mod.ModelCacheError):
        pytest.skip("the bundled 0.5B is not pulled")
    out = q.quantize_gguf(shipped, tmp_path / "m.gguf", "Q4_K_M", tensor_types={r"blk\.0\.attn_q\.": "Q8_0"})
    before = {t.name: t.tensor_type.name for t in gguf.GGUFReader(shipped).tensors}
    after = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}
    assert after["blk.0.attn_q.weight"] == "Q8_0" != before["blk.0.attn_q.weight"]
    assert after["blk.1.attn_q.weight"] == before["blk.1.attn_q.weight"] != "Q8_0"


def test_a_type_a_tensor_cannot_take_is_reported(tmp_path):
    """The 0.5B's feed-forward rows are 896 long: Q6_K (blocks of 256) cannot hold them,
    llama.cpp falls back to another type, and the export says so instead of silently
    writing a file the size of the one without the override."""
    try:
        shipped = bundled_mod.model_path("qwen2.5-coder-0.5b")
    except (ModelNotFoundError, bundled_mod.ModelCacheError):
        pytest.skip("the bundled 0.5B is not pulled")
    lines: list[str] = []
    q.quantize_gguf(shipped, tmp_path / "m.gguf", "Q4_K_M", tensor_types={r"blk\.0\.ffn_up\.": "Q6_K"},
                    progress=lines.append)
    assert any("fell back" in line and "1 tensors" in line for line in lines), lines
