"""GPTQ rounding onto Q4_0, and the merged GGUF it writes.

The arithmetic is checked against the ``gguf`` package's own Q4_0 codec; the merge runs
a tiny random qwen2 (the real tokenizer and chat template) against a GGUF holding the
same weights. What it does to the real tuned 0.5B is measured by bench/finetune.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

import kapibara.demo  # noqa: E402,F401 - registers the "demo" tool set
from kapibara.errors import ConfigError  # noqa: E402
from kapibara.finetune import gptq  # noqa: E402
from kapibara.finetune.samples import Sample, call_message, reply_message, save_samples  # noqa: E402
from kapibara.models.base import ToolCall  # noqa: E402

Q4_0 = gguf.GGMLQuantizationType.Q4_0


def correlated(rows: int, cols: int, tokens: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight and the Hessian of inputs whose features are strongly correlated (as a
    transformer layer's are: that is what GPTQ's error spreading exploits)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g)
    x = torch.randn(tokens, cols, generator=g) @ torch.randn(cols, cols, generator=g) * 0.3
    return w, x.T @ x


def test_packed_codes_are_q4_0_as_the_gguf_package_reads_it() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, size=(3, 64)).astype(np.uint8)
    scales = rng.standard_normal((3, 2)).astype(np.float32)
    packed = gptq.pack_q4_0(codes, scales)
    assert packed.shape == (3, 2 * 18) and packed.dtype == np.uint8
    ours = gptq.dequantize_q4_0(codes, scales)
    theirs = gguf.quants.dequantize(packed, Q4_0)
    assert np.array_equal(ours, theirs)


def test_plain_rounding_is_llama_cpp_q4_0() -> None:
    w, _ = correlated(8, 96)
    codes, scales = gptq.round_q4_0(w)
    ours = gptq.dequantize_q4_0(codes, scales)
    theirs = gguf.quants.dequantize(gguf.quants.quantize(w.numpy(), Q4_0), Q4_0)
    step = np.abs(scales).repeat(32, axis=1)
    # the same grid and scales; a value may round the other way where the fp16 scale
    # differs from the float32 one llama.cpp divides by (one step at most)
    assert np.all(np.abs(ours - theirs) <= step + 1e-6)
    assert np.mean(ours == theirs) > 0.99
    # the value of largest magnitude in each block lands exactly on -8 * d
    blocks = w.numpy().reshape(-1, 32)
    assert np.all(codes.reshape(-1, 32)[np.arange(len(blocks)), np.abs(blocks).argmax(1)] == 0)


def test_with_uncorrelated_inputs_gptq_is_plain_rounding() -> None:
    w, _ = correlated(16, 64)
    codes, scales = gptq.gptq_q4_0(w, torch.eye(64) * 5.0)
    rtn_codes, rtn_scales = gptq.round_q4_0(w)
    assert np.array_equal(codes, rtn_codes) and np.allclose(scales, rtn_scales)


def test_gptq_keeps_the_layer_outputs_closer_than_plain_rounding() -> None:
    w, h = correlated(64, 256)
    codes, scales = gptq.gptq_q4_0(w, h)
    assert codes.min() >= 0 and codes.max() <= 15 and scales.shape == (64, 8)
    ours = torch.from_numpy(gptq.dequantize_q4_0(codes, scales))
    rtn = torch.from_numpy(gptq.dequantize_q4_0(*gptq.round_q4_0(w)))
    err = ((w - ours) @ h * (w - ours)).sum()
    rtn_err = ((w - rtn) @ h * (w - rtn)).sum()
    assert err < 0.7 * rtn_err


def test_rows_must_split_into_q4_0_blocks() -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        gptq.gptq_q4_0(torch.zeros(4, 48), torch.eye(48))


# -- the merge -------------------------------------------------------------------------

NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}


@pytest.fixture(scope="module")
def tokenizer():
    from kapibara.finetune.base import load_hf_tokenizer

    return load_hf_tokenizer("qwen2.5-coder-0.5b")


def tiny_gguf(model, path: Path) -> None:
    """The tiny model's weights as a qwen2 GGUF (F32; token_embd and output Q8_0)."""
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_block_count(2)
    w.add_string("tokenizer.chat_template", "{{ messages }}")
    emb = model.model.embed_tokens.weight.detach().numpy()
    for name in ("token_embd.weight", "output.weight"):  # untied in the file, as in the bundled GGUFs
        w.add_tensor(name, gguf.quants.quantize(emb, gguf.GGMLQuantizationType.Q8_0),
                     raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    for i in range(2):
        for module, name in NAMES.items():
            weight = model.get_submodule(f"model.layers.{i}.{module}").weight.detach().numpy()
            w.add_tensor(f"blk.{i}.{name}.weight", np.ascontiguousarray(weight, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def calibration_samples(path: Path) -> Path:
    rows = [("草莓有打折吗？", "get_promotions", {"product_name": "草莓"}),
            ("北京明天天气怎么样", "get_weather", {"city": "北京", "date": "明天"}),
            ("Any rice good for porridge?", "recommend_products", {"category": "rice", "scenario": "porridge"})]
    samples = [Sample(id=f"s{i}", messages=[{"role": "user", "content": q}, call_message([ToolCall(n, a)])])
               for i, (q, n, a) in enumerate(rows)]
    samples.append(Sample(id="hi", messages=[{"role": "user", "content": "你好"}, reply_message("你好！")]))
    save_samples(path, samples)
    return path


@pytest.fixture(scope="module")
def merged(tokenizer, tiny_qwen2, tmp_path_factory: pytest.TempPathFactory):
    """A tiny base GGUF, a random LoRA on it, and the GPTQ merge with its report."""
    from kapibara.finetune.frame import gguf_template
    from kapibara.finetune.gguf import read_peft_adapter
    from kapibara.models.bundled import model_path

    tmp = tmp_path_factory.mktemp("gptq")
    model = tiny_qwen2(tokenizer)
    tiny_gguf(model, tmp / "base.gguf")
    lora = peft.get_peft_model(tiny_qwen2(tokenizer), peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    lora.save_pretrained(str(tmp / "adapter"))
    lines: list[str] = []
    report = gptq.merge_gptq(tmp / "adapter", tmp / "base.gguf", tmp / "merged.gguf",
                             samples=calibration_samples(tmp / "cal.jsonl"), base=(model, tokenizer),
                             template=gguf_template(model_path("qwen2.5-coder-0.5b")), progress=lines.append)
    return {"dir": tmp, "report": report, "lines": lines, "adapter": read_peft_adapter(tmp / "adapter")}


def test_the_merge_writes_every_linear_weight_as_q4_0_near_base_plus_delta(merged) -> None:
    base = gguf.GGUFReader(str(merged["dir"] / "base.gguf"))
    out = gguf.GGUFReader(str(merged["dir"] / "merged.gguf"))
    before = {t.name: t for t in base.tensors}
    after = {t.name: t for t in out.tensors}
    assert list(after) == list(before)
    for i in range(2):
        for module, name in NAMES.items():
            t = after[f"blk.{i}.{name}.weight"]
            assert t.tensor_type == Q4_0
            rows, cols = int(t.shape[1]), int(t.shape[0])
            want = gguf.quants.dequantize(before[t.name].data, before[t.name].tensor_type).reshape(rows, cols)
            lora = merged["adapter"].weights.get(f"model.layers.{i}.{module}")
            if lora is not None:
                want = want + lora.delta()
            got = gguf.quants.dequantize(t.data, Q4_0).reshape(rows, cols)
            # within a few Q4_0 steps of the merged weight (GPTQ moves values to carry error)
            step = np.abs(want).reshape(rows, -1, 32).max(2, keepdims=True) / 8
            assert np.median(np.abs(got - want).reshape(rows, -1, 32) / step) < 0.5
    assert after["token_embd.weight"].tensor_type == Q4_0
    assert after["output.weight"].tensor_type == Q4_0  # calibrated on the last hidden states
    assert np.array_equal(after["blk.0.attn_norm.weight"].data, before["blk.0.attn_norm.weight"].data)
    assert out.get_field("tokenizer.chat_template").contents() == "{{ messages }}"
    assert out.get_field("general.file_type").contents() == int(gguf.LlamaFileType.MOSTLY_Q4_0)


def test_the_merge_reports_calibration_and_beats_plain_rounding(merged) -> None:
    r = merged["report"]
    assert r.samples == 4 and r.layers == 15 and r.tokens > 100  # 2 x 7 projections and the output
    assert r.error < r.rtn_error
    assert any("calibrate: samples 4/4" in line for line in merged["lines"])
    assert merged["lines"][-1] == "gptq: weights 15/15"
    assert json.loads(json.dumps(r.to_dict()))["layers"] == 15


def test_publish_finds_the_runs_own_samples_or_says_what_to_give(tmp_path: Path) -> None:
    from kapibara.finetune.publish import calibration_for

    (tmp_path / "run" / "adapter").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no train.json") as exc:
        calibration_for(tmp_path / "run")
    assert "--calibration" in (exc.value.hint or "")
    data = calibration_samples(tmp_path / "train.jsonl")
    (tmp_path / "run" / "train.json").write_text(json.dumps(
        {"config": {"data": str(data), "toolset": "demo", "profile": "compact"}}))
    for where in (tmp_path / "run", tmp_path / "run" / "adapter"):
        assert calibration_for(where).samples == data
    (tmp_path / "run" / "train.json").write_text(json.dumps({"config": {"data": str(tmp_path / "gone.jsonl")}}))
    with pytest.raises(ConfigError, match="do not exist"):
        calibration_for(tmp_path / "run")
    assert calibration_for(tmp_path / "run", data).samples == data


def test_gptq_export_refuses_tensor_types(merged, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kapibara.finetune.publish import publish

    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    d = merged["dir"]
    with pytest.raises(ConfigError, match="tensor-type"):
        publish(d / "adapter", "t", base=str(d / "base.gguf"), merge=True, tensor_types={"attn_": "Q8_0"})
    with pytest.raises(ConfigError, match="unknown quantisation"):
        publish(d / "adapter", "t", base=str(d / "base.gguf"), merge=True, quant="Q3_Z")


def test_cli_merge_without_samples_says_how_to_give_them(merged, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A bare adapter folder names no training data: GPTQ-Q4_0 (the default) cannot
    calibrate, and the export stops with one line naming --calibration and --quant."""
    from kapibara.cli import main

    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    d = merged["dir"]
    assert main(["finetune", "export", str(d / "adapter"), "--name", "t", "--merge", "--base", str(d / "base.gguf")]) == 2
    err = capsys.readouterr().err
    assert "--calibration" in err and "--quant Q8_0" in err and "Traceback" not in err


def test_publish_merges_with_gptq_on_the_runs_samples_and_records_it(merged, tokenizer, tiny_qwen2, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from kapibara.finetune.frame import gguf_template
    from kapibara.finetune.publish import publish
    from kapibara.models import tuned
    from kapibara.models.bundled import model_path

    d = merged["dir"]
    run = tmp_path / "run"
    shutil.copytree(d / "adapter", run / "adapter")
    (run / "train.json").write_text(json.dumps({"config": {"data": str(d / "cal.jsonl"), "profile": "compact"}}))
    real = gptq.merge_gptq
    seen: dict[str, object] = {}
    template = gguf_template(model_path("qwen2.5-coder-0.5b"))

    def tiny_merge(*args, **kwargs):  # the tiny model stands in for the GGUF's dequantised weights
        seen.update(kwargs)
        return real(*args, base=(tiny_qwen2(tokenizer), tokenizer), template=template, **kwargs)

    monkeypatch.setattr(gptq, "merge_gptq", tiny_merge)
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    lines: list[str] = []
    rec = publish(run, "g", base=str(d / "base.gguf"), merge=True, progress=lines.append)
    assert seen["samples"] == d / "cal.jsonl" and seen["profile"] == "compact"
    assert rec.merged_gguf == rec.folder / "merged-GPTQ-Q4_0.gguf" and rec.merged_gguf.is_file()
    assert tuned.get("g").metadata["gptq"]["layers"] == 15
    assert tuned.get("g").metadata["gptq"]["calibration"] == str(d / "cal.jsonl")
    assert any(line.startswith("GPTQ-Q4_0: calibrating on") for line in lines)
