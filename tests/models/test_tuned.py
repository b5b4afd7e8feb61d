"""The tuned-model registry with small files: register, list, resolve, broken records.
No model is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kapibara.cli import app, main
from kapibara.errors import ConfigError, ModelCacheError, ModelNotFoundError
from kapibara.models import tuned
from kapibara.models.llamacpp import LlamaCppModel
from kapibara.models.registry import load_model


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    return tmp_path


def files(home: Path, name: str) -> tuple[Path, Path, Path]:
    folder = tuned.model_dir(name)
    folder.mkdir(parents=True)
    (folder / "peft").mkdir()
    (folder / "adapter.gguf").write_bytes(b"GGUF adapter")
    (folder / "merged-Q4_K_M.gguf").write_bytes(b"GGUF merged")
    base = home / "base.gguf"
    base.write_bytes(b"GGUF base")
    return folder, base, folder / "merged-Q4_K_M.gguf"


def test_register_get_and_list(home: Path) -> None:
    folder, base, merged = files(home, "grocery-v1")
    rec = tuned.register("grocery-v1", base=str(base), adapter_gguf=folder / "adapter.gguf", merged_gguf=merged,
                         peft_dir=folder / "peft", metadata={"prompt": "v2", "eval": {"pass": 0.71}})
    stored = json.loads((folder / "tuned.json").read_text())
    # files in the model's folder are stored relative to it: the folder can move
    assert stored["adapter_gguf"] == "adapter.gguf" and stored["merged_gguf"] == "merged-Q4_K_M.gguf"
    assert stored["base"] == str(base.resolve())
    got = tuned.get("grocery-v1")
    assert got == rec
    assert got.metadata == {"prompt": "v2", "eval": {"pass": 0.71}}
    assert got.created.startswith("20")
    assert [m.name for m in tuned.list_tuned() if isinstance(m, tuned.TunedModel)] == ["grocery-v1"]


def test_load_files_prefers_merged_then_base_plus_adapter(home: Path) -> None:
    folder, base, merged = files(home, "a")
    tuned.register("a", base=str(base), adapter_gguf=folder / "adapter.gguf", merged_gguf=merged)
    assert tuned.get("a").load_files() == (merged.absolute(), None)
    tuned.register("a", base=str(base), adapter_gguf=folder / "adapter.gguf")
    assert tuned.get("a").load_files() == (base.resolve(), (folder / "adapter.gguf").absolute())


def test_missing_file_is_an_error_with_a_hint(home: Path) -> None:
    folder, base, merged = files(home, "a")
    tuned.register("a", base=str(base), adapter_gguf=folder / "adapter.gguf", merged_gguf=merged)
    merged.unlink()
    with pytest.raises(ModelCacheError, match="missing") as exc:
        tuned.get("a").load_files()
    assert exc.value.hint and "finetune export" in exc.value.hint


def test_corrupt_record(home: Path) -> None:
    folder, base, _ = files(home, "a")
    (folder / "tuned.json").write_text("{not json")
    with pytest.raises(ModelCacheError, match="corrupt"):
        tuned.get("a")
    (folder / "tuned.json").write_text(json.dumps({"name": "other", "base": "x"}))
    with pytest.raises(ModelCacheError, match="corrupt"):
        tuned.get("a")
    # listed as broken, not hidden and not fatal to the listing
    assert [type(m) for m in tuned.list_tuned()] == [ModelCacheError]


def test_names_are_checked(home: Path) -> None:
    folder, base, merged = files(home, "ok")
    for bad in ("", "a/b", "llamacpp:x", "../up", "qwen2.5-coder-0.5b"):
        with pytest.raises(ConfigError):
            tuned.register(bad, base=str(base), merged_gguf=merged)
    with pytest.raises(ConfigError, match="nothing to serve"):
        tuned.register("ok", base=str(base))
    with pytest.raises(ConfigError, match="neither a bundled model"):
        tuned.register("ok", base="no-such-model", merged_gguf=merged)
    with pytest.raises(ModelNotFoundError, match="no tuned model"):
        tuned.get("ok")


def test_spec_resolves_a_tuned_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, base, merged = files(home, "mine")
    tuned.register("mine", base=str(base), adapter_gguf=folder / "adapter.gguf")
    seen: dict[str, object] = {}

    def fake_init(self: LlamaCppModel, path: Path, **options: object) -> None:
        seen.update(path=path, **options)

    monkeypatch.setattr(LlamaCppModel, "__init__", fake_init)
    load_model("llamacpp:mine", threads=1)
    assert {k: seen[k] for k in ("path", "name", "lora_path", "threads")} == {
        "path": base.resolve(), "name": "mine", "lora_path": (folder / "adapter.gguf").absolute(), "threads": 1}
    seen.clear()
    load_model("mine")  # a bare name means llamacpp too
    assert seen["lora_path"] == (folder / "adapter.gguf").absolute()


def test_unknown_name_lists_tuned_models(home: Path) -> None:
    folder, base, merged = files(home, "mine")
    tuned.register("mine", base=str(base), merged_gguf=merged)
    with pytest.raises(ModelNotFoundError) as exc:
        load_model("llamacpp:nope")
    assert exc.value.hint and "mine" in exc.value.hint


def test_cli_lists_tuned_models_and_one_line_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, base, merged = files(home, "mine")
    tuned.register("mine", base=str(base), merged_gguf=merged, metadata={"prompt": "v2"})
    out = CliRunner().invoke(app, ["models", "list"], terminal_width=200).output
    assert "mine" in out and "merged" in out and "prompt=v2" in out
    merged.unlink()
    assert main(["generate", "hi", "--model", "llamacpp:mine"]) == 2
    err = capsys.readouterr().err
    assert "merged-Q4_K_M.gguf is missing" in err and "hint: export it again" in err
    assert main(["finetune", "export", str(home / "nothing"), "--name", "x"]) == 2
    assert "no peft adapter" in capsys.readouterr().err
