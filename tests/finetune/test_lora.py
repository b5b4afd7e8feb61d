"""LoRA training: rendering, labels, the shared-prefix step, checkpoints and resume.

A tiny random qwen2 model with the real tokenizer keeps this fast; what the real 0.5B
learns is measured by bench/finetune.py, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

import kapibara.demo  # noqa: E402,F401
from kapibara.errors import ConfigError, DataError  # noqa: E402
from kapibara.finetune.frame import agent_frame  # noqa: E402
from kapibara.finetune.lora import IGNORE, TrainConfig, encode, train  # noqa: E402
from kapibara.finetune.parity import check_parity, first_difference, llama_tokenizer  # noqa: E402
from kapibara.finetune.samples import Sample, call_message, reply_message, save_samples  # noqa: E402
from kapibara.models.base import ToolCall  # noqa: E402
from kapibara.models.bundled import model_path  # noqa: E402


def samples() -> list[Sample]:
    out = []
    for i, (q, name, args) in enumerate([
        ("草莓有打折吗？", "get_promotions", {"product_name": "草莓"}),
        ("北京明天天气怎么样", "get_weather", {"city": "北京", "date": "明天"}),
        ("Any rice good for porridge?", "recommend_products", {"category": "rice", "scenario": "porridge"}),
        ("来两箱农夫山泉", "add_to_cart", {"product_name": "农夫山泉", "quantity": 2}),
    ]):
        out.append(Sample(id=f"s{i}", messages=[{"role": "user", "content": q}, call_message([ToolCall(name, args)])]))
    out.append(Sample(id="hi", messages=[{"role": "user", "content": "你好"}, reply_message("你好！需要买点什么吗？")]))
    return out


@pytest.fixture(scope="module")
def frame():
    return agent_frame("demo", profile="compact")


@pytest.fixture(scope="module")
def tokenizer():
    from kapibara.finetune.base import load_hf_tokenizer

    return load_hf_tokenizer("qwen2.5-coder-0.5b")


@pytest.fixture(scope="module")
def tiny(tokenizer, tiny_qwen2):
    """A fresh tiny model per call (training injects its LoRA layers into the one it gets)."""
    return lambda: tiny_qwen2(tokenizer)


def test_render_gives_the_prompt_then_the_target_through_end_of_turn(frame) -> None:
    prompt, target = frame.render(samples()[0])
    assert prompt.endswith("<|im_start|>assistant\n")
    assert target.startswith("<tool_call>") and target.endswith("</tool_call><|im_end|>")
    assert '"product_name": "草莓"' in target
    assert "description" not in prompt, "the compact profile sends bare tool signatures"
    assert prompt.startswith(frame.prefix("zh"))


def test_training_tokens_equal_llama_cpp_tokens(frame, tokenizer) -> None:
    found = check_parity(samples(), frame, tokenizer, llama_tokenizer(model_path("qwen2.5-coder-0.5b")))
    assert found == []


def test_a_tokenizer_mismatch_names_the_first_differing_position(frame, tokenizer) -> None:
    real = llama_tokenizer(model_path("qwen2.5-coder-0.5b"))

    def off_by_one(text: str) -> list[int]:
        ids = real(text)
        return ids[:10] + [ids[10] + 1] + ids[11:]

    found = check_parity(samples()[:1], frame, tokenizer, off_by_one)
    assert len(found) == 1 and found[0].position == 10 and "token 10" in str(found[0])
    assert first_difference([1, 2], [1, 2, 3]) == 2 and first_difference([1], [1]) is None


def test_labels_cover_the_target_turn_only(frame, tokenizer) -> None:
    prefixes = {lang: tokenizer.encode(frame.prefix(lang), add_special_tokens=False) for lang in frame.system}
    enc, dropped = encode(samples(), frame, tokenizer, prefixes, max_target=160, max_suffix=384)
    assert dropped == 0 and len(enc) == 5
    for e, s in zip(enc, samples(), strict=True):
        learned = [t for t in e.labels if t != IGNORE]
        _, target = frame.render(s)
        assert tokenizer.decode(learned) == target
        assert e.labels[: len(e.labels) - len(learned)] == [IGNORE] * (len(e.labels) - len(learned))
    assert {e.language for e in enc} == {"zh", "en"}
    short, dropped = encode(samples(), frame, tokenizer, prefixes, max_target=5, max_suffix=384)
    assert dropped == 5 and short == []


def test_training_lowers_the_loss_and_resumes_from_a_checkpoint(tmp_path: Path, tiny, tokenizer) -> None:
    data = tmp_path / "train.jsonl"
    save_samples(data, samples())
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), rank=4, alpha=8, batch=2, epochs=6, lr=3e-3,
                      warmup=1, max_samples=None, checkpoint_every=3)
    seen: list[tuple[int, int]] = []
    result = train(cfg, base=(tiny(), tokenizer), progress=lambda s, t, loss, left: seen.append((s, t)))
    assert (result.adapter / "adapter_config.json").exists() and result.steps == len(seen) == seen[-1][1]
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < first, result.losses
    info = json.loads((tmp_path / "run" / "train.json").read_text())
    assert info["result"]["samples"] == 5 and info["config"]["rank"] == 4
    # resume: the finished run's checkpoint is at the last step, so nothing is redone
    again = train(cfg, base=(tiny(), tokenizer), resume=True, progress=lambda *a: seen.append((-1, -1)))
    assert again.steps == result.steps and (-1, -1) not in seen
    other = TrainConfig(**{**cfg.__dict__, "lr": 1e-3})
    with pytest.raises(ConfigError, match="other settings"):
        train(other, base=(tiny(), tokenizer), resume=True)


def test_bad_settings_and_empty_data_are_one_line_errors(tmp_path: Path, tiny, tokenizer) -> None:
    with pytest.raises(ConfigError):
        TrainConfig(data="x", out="y", rank=0)
    with pytest.raises(ConfigError, match="unknown target"):
        TrainConfig(data="x", out="y", targets=("lm_head",))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError):
        train(TrainConfig(data=str(empty), out=str(tmp_path / "r")), base=(tiny(), tokenizer))


def test_training_can_start_from_an_earlier_adapter(tmp_path: Path, tiny, tokenizer) -> None:
    from safetensors.torch import load_file

    data = tmp_path / "train.jsonl"
    save_samples(data, samples())
    first = TrainConfig(data=str(data), out=str(tmp_path / "a"), rank=4, alpha=8, batch=2, epochs=2, lr=3e-3,
                        warmup=1, max_samples=None)
    a = train(first, base=(tiny(), tokenizer))
    # A pass that barely moves the weights ends where the earlier adapter was, not at fresh LoRA weights.
    again = TrainConfig(**{**first.__dict__, "out": str(tmp_path / "b"), "lr": 1e-12, "epochs": 1,
                           "init": str(tmp_path / "a")})
    b = train(again, base=(tiny(), tokenizer))
    wa, wb = load_file(str(a.adapter / "adapter_model.safetensors")), load_file(str(b.adapter / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert any(k.endswith("lora_B.weight") and wa[k].abs().sum() > 0 for k in wa), "fresh lora_B would be zeros"
    assert b.losses[0] < a.losses[0]
    with pytest.raises(ConfigError, match="rank 4"):
        train(TrainConfig(**{**again.__dict__, "rank": 8, "out": str(tmp_path / "c")}), base=(tiny(), tokenizer))
    with pytest.raises(ConfigError, match="no adapter to start from"):
        train(TrainConfig(**{**again.__dict__, "init": str(tmp_path / "nowhere")}), base=(tiny(), tokenizer))
