import json
from pathlib import Path

import pytest
import yaml

from kapibara.cli import main
from kapibara.demo import demo_toolset
from kapibara.errors import ConfigError, DataError
from kapibara.finetune.export import (
    export,
    samples_from_badcases,
    samples_from_bank,
    to_alpaca,
    to_dpo,
    to_openai,
    to_sharegpt,
)
from kapibara.finetune.samples import (
    Sample,
    call_message,
    load_samples,
    reply_message,
    save_samples,
)
from kapibara.models.base import ToolCall

TOOLS = demo_toolset().specs()


def follow_up() -> Sample:
    first = ToolCall("get_product_info", {"product_name": "车厘子", "properties": ["价格"]}, "call_0")
    return Sample("f1", [
        {"role": "user", "content": "车厘子多少钱"},
        call_message([first]),
        {"role": "tool", "tool_call_id": "call_0", "name": "get_product_info", "content": '{"price": "89.9元"}'},
        reply_message("车厘子 89.9 元。"),
        {"role": "user", "content": "来两斤"},
        call_message([ToolCall("add_to_cart", {"product_name": "车厘子", "quantity": 2}, "call_1")]),
    ], TOOLS, "test", "follow_up", rejected=reply_message("好的"))


def test_sharegpt_roles_alternate_the_way_llamafactory_requires():
    row = to_sharegpt(follow_up())
    roles = [t["from"] for t in row["conversations"]]
    assert roles == ["human", "function_call", "observation", "gpt", "human", "function_call"]
    # human/observation at odd positions, gpt/function_call at even ones (1-based)
    assert all((r in ("human", "observation")) == (i % 2 == 0) for i, r in enumerate(roles))
    assert json.loads(row["conversations"][-1]["value"]) == {"name": "add_to_cart",
                                                             "arguments": {"product_name": "车厘子", "quantity": 2}}
    tools = json.loads(row["tools"])
    assert isinstance(row["tools"], str) and {t["name"] for t in tools} == {t["function"]["name"] for t in TOOLS}
    assert "parameters" in tools[0] and row["system"]  # the agent's own prompt


def test_parallel_tool_results_merge_into_one_observation():
    a, b = ToolCall("get_weather", {"city": "北京"}, "c0"), ToolCall("get_weather", {"city": "上海"}, "c1")
    s = Sample("p", [{"role": "user", "content": "北京和上海天气"}, call_message([a, b]),
                     {"role": "tool", "tool_call_id": "c0", "content": "晴"},
                     {"role": "tool", "tool_call_id": "c1", "content": "雨"},
                     reply_message("北京晴，上海雨。")], TOOLS)
    row = to_sharegpt(s, system=None)
    assert [t["from"] for t in row["conversations"]] == ["human", "function_call", "observation", "gpt"]
    assert json.loads(row["conversations"][2]["value"]) == ["晴", "雨"]
    assert len(json.loads(row["conversations"][1]["value"])) == 2


def test_alpaca_history_and_qwen_call_markup():
    row = to_alpaca(follow_up(), system="SYS")
    assert row["instruction"] == "来两斤" and row["system"] == "SYS"
    assert row["output"].startswith("<tool_call>\n{") and row["output"].endswith("</tool_call>")
    assert json.loads(row["output"].split("\n")[1])["arguments"] == {"product_name": "车厘子", "quantity": 2}
    assert row["history"][0][0] == "车厘子多少钱" and "<tool_call>" in row["history"][0][1]
    assert row["history"][1] == ['<tool_response>\n{"price": "89.9元"}\n</tool_response>', "车厘子 89.9 元。"]


def test_openai_rows_keep_tool_calls_and_put_the_system_first():
    row = to_openai(follow_up(), system="SYS")
    assert row["messages"][0] == {"role": "system", "content": "SYS"}
    assert row["messages"][-1]["tool_calls"][0]["function"]["arguments"] == '{"product_name": "车厘子", "quantity": 2}'
    assert row["tools"] == TOOLS


def test_dpo_pairs_chosen_against_rejected():
    row = to_dpo(follow_up(), system=None)
    assert row["conversations"][-1] == {"from": "human", "value": "来两斤"}
    assert row["chosen"]["from"] == "function_call" and row["rejected"] == {"from": "gpt", "value": "好的"}
    with pytest.raises(DataError):
        to_dpo(Sample("x", [{"role": "user", "content": "hi"}, reply_message("yo")]))


@pytest.mark.parametrize("fmt", ["sharegpt", "alpaca", "openai", "dpo"])
def test_export_writes_data_dataset_info_and_a_training_yaml(tmp_path, fmt):
    samples = [follow_up(), Sample("n", [{"role": "user", "content": "你好"}, reply_message("你好！")], TOOLS)]
    paths = export(samples, tmp_path, fmt)
    rows = [json.loads(x) for x in paths["data"].read_text(encoding="utf-8").splitlines()]
    assert len(rows) == (1 if fmt == "dpo" else 2)
    info = json.loads(paths["dataset_info"].read_text(encoding="utf-8"))
    (name, entry), = info.items()
    assert entry["file_name"] == paths["data"].name and (entry.get("ranking") is True) == (fmt == "dpo")
    cfg = yaml.safe_load(paths["train_yaml"].read_text(encoding="utf-8"))
    assert cfg["dataset"] == name and cfg["finetuning_type"] == "lora" and cfg["template"] == "qwen"
    assert cfg["stage"] == ("dpo" if fmt == "dpo" else "sft") and Path(cfg["dataset_dir"]) == tmp_path.resolve()


def test_export_keeps_other_dataset_info_entries_and_refuses_bad_input(tmp_path):
    (tmp_path / "dataset_info.json").write_text('{"mine": {"file_name": "x.json"}}', encoding="utf-8")
    export([follow_up()], tmp_path, "sharegpt")
    assert set(json.loads((tmp_path / "dataset_info.json").read_text())) == {"mine", "kapibara_sharegpt"}
    with pytest.raises(ConfigError):
        export([follow_up()], tmp_path / "o", "csv")
    with pytest.raises(DataError):
        export([Sample("n", [{"role": "user", "content": "hi"}, reply_message("yo")], TOOLS)], tmp_path / "d", "dpo")
    assert not (tmp_path / "d").exists()


def test_bad_cases_become_dpo_pairs_with_the_corrected_call(tmp_path):
    bad = tmp_path / "dev.native.bad.jsonl"
    rows = [
        {"id": "cart-003", "category": "cart", "input": "来两箱农夫山泉", "context": [], "tools": "demo",
         "expected": [[{"add_to_cart": {"product_name": ["农夫山泉"], "quantity": [2]}}]],
         "actual": {"calls": [{"name": "add_to_cart", "arguments": {"product_name": "农夫山泉"}}], "text": ""}},
        {"id": "no_call-001", "category": "no_call", "input": "你好", "context": [], "tools": "demo",
         "expected": [], "actual": {"calls": [{"name": "view_cart", "arguments": {}}], "text": ""}},
        {"id": "no_call-999", "category": "no_call", "input": "嗯", "context": [], "tools": "demo",
         "expected": [], "actual": {"calls": [], "text": "好的"}},
    ]
    bad.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    samples = samples_from_badcases([bad], lambda cid, lang: "你好！" if cid == "no_call-001" else None)
    assert [s.source for s in samples] == ["badcase:cart-003", "badcase:no_call-001"]  # 999: no chosen reply
    assert samples[0].target_calls[0].arguments == {"product_name": "农夫山泉", "quantity": 2}
    assert samples[0].rejected["tool_calls"][0]["function"]["arguments"] == '{"product_name": "农夫山泉"}'
    assert samples[1].target["content"] == "你好！" and samples[1].rejected["tool_calls"]


def test_bank_examples_with_calls_or_answers_become_samples():
    from kapibara.finetune.dataset import default_bank_file

    samples = samples_from_bank([default_bank_file()])
    assert len(samples) > 100 and all(s.target_calls or s.target.get("content") for s in samples)


def test_cli_export_from_a_samples_file_and_one_line_errors(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    save_samples(data, [follow_up()])
    assert main(["data", "export", "--format", "sharegpt", "--out", str(tmp_path / "o"), "--from", str(data)]) == 0
    assert (tmp_path / "o" / "kapibara_sharegpt.jsonl").exists()
    assert main(["data", "export", "--format", "sharegpt", "--out", str(tmp_path / "o")]) == 2
    assert "no --from" in capsys.readouterr().err
    assert main(["data", "export", "--format", "xml", "--out", str(tmp_path / "x"), "--from", str(data)]) == 2
    assert main(["data", "export", "--format", "alpaca", "--out", str(tmp_path / "x"), "--from", "badcases"]) == 2
    assert load_samples(data)[0].id == "f1"


def test_cli_export_drops_test_split_requests(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    leak = Sample("l", [{"role": "user", "content": "红烧肉怎么做"},  # test recipes-002
                        call_message([ToolCall("recommend_recipes", {"dish_or_ingredient": "红烧肉"})])], TOOLS)
    save_samples(data, [follow_up(), leak])
    assert main(["data", "export", "--format", "openai", "--out", str(tmp_path / "o"), "--from", str(data)]) == 0
    assert "left out 1" in capsys.readouterr().err
    assert len((tmp_path / "o" / "kapibara_openai.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    save_samples(data, [leak])
    assert main(["data", "export", "--format", "openai", "--out", str(tmp_path / "p"), "--from", str(data)]) == 2
    assert "every sample matches the eval test split" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_llamafactory_reads_the_files(tmp_path):
    """LlamaFactory's own loader aligns every exported format (skipped where it is not installed)."""
    pytest.importorskip("llamafactory")
    from llamafactory.data.loader import _load_single_dataset
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.hparams import DataArguments, ModelArguments, TrainingArguments

    samples = [follow_up(), Sample("n", [{"role": "user", "content": "你好"}, reply_message("你好！")], TOOLS)]
    for fmt in ("sharegpt", "alpaca", "openai", "dpo"):
        folder = tmp_path / fmt
        export(samples, folder, fmt)
        data_args = DataArguments(dataset_dir=str(folder), dataset=[f"kapibara_{fmt}"], overwrite_cache=True)
        training_args = TrainingArguments(output_dir=str(tmp_path / "out"))
        (attr,) = get_dataset_list([f"kapibara_{fmt}"], str(folder))
        # _load_single_dataset ends with LlamaFactory's align_dataset (its format converters)
        aligned = _load_single_dataset(attr, ModelArguments(model_name_or_path="x"), data_args, training_args)
        row = aligned[0]
        roles = [m["role"] for m in row["_prompt"]] + [m["role"] for m in row["_response"]]
        # a call is the function role, except in alpaca, which has none: its Qwen markup is the text
        want = {"dpo": ["function", "assistant"], "alpaca": ["user", "assistant"]}.get(fmt, ["user", "function"])
        assert roles[-2:] == want, (fmt, roles)
        assert "add_to_cart" in row["_response"][0]["content"]
        first_tool = json.loads(row["_tools"])[0]
        assert first_tool.get("function", first_tool)["name"] == "recommend_products" and row["_system"]
        if fmt == "sharegpt":  # arguments stay an object (the openai format's are a JSON string, as OpenAI's are)
            assert json.loads(row["_response"][0]["content"])["arguments"] == {"product_name": "车厘子", "quantity": 2}
