"""``kapibara serve``: user mistakes are one line, never a traceback; settings feed the app."""

from __future__ import annotations

import pytest

from kapibara.cli import main
from kapibara.serve.server import build_app, served_name


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    for var in ("KAPIBARA_MODEL", "KAPIBARA_API_KEYS", "KAPIBARA_SESSION_DB"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "home"


def test_a_public_host_without_a_key_is_refused_in_one_line(home, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--model", "fake:hi"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without an API key" in err and "Traceback" not in err
    assert "--api-key" in err


def test_a_missing_bundled_model_names_the_pull_command(home, capsys):
    pytest.importorskip("llama_cpp")
    assert main(["serve", "--model", "qwen2.5-coder-0.5b", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "kapibara models pull qwen2.5-coder-0.5b" in err and "Traceback" not in err


def test_keys_from_the_environment_allow_a_public_host(home, monkeypatch, tmp_path):
    monkeypatch.setenv("KAPIBARA_API_KEYS", "k1, k2")
    app = build_app(["fake:hi"], host="0.0.0.0", api_keys=["k3"], agents=[], db=str(tmp_path / "s.db"))
    assert app.state.kapibara.config.api_keys == ("k3", "k1", "k2")
    assert list(app.state.kapibara.models) == ["fake"]


def test_served_names():
    assert served_name("llamacpp:qwen2.5-coder-0.5b") == "qwen2.5-coder-0.5b"
    assert served_name("qwen2.5-coder-1.5b") == "qwen2.5-coder-1.5b"
    assert served_name("llamacpp:/models/tuned.gguf") == "tuned"
    assert served_name("openai:Qwen/Qwen2.5-7B@http://127.0.0.1:8001/v1") == "Qwen/Qwen2.5-7B"
