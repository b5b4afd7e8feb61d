"""The agent's own texts follow the user's language unless a prompt or caller fixes it."""

from kapibara.agent import Agent
from kapibara.models.fake import FakeModel
from kapibara.prompts import Prompt, render_template


def test_english_question_gets_english_texts(tools):
    model = FakeModel(["Hello!"])
    Agent(model, tools, protocol="react").decide([{"role": "user", "content": "What can you do?"}])
    system = model.calls[0].messages[0]["content"]
    assert render_template("agent_default_system", "en") in system and "Begin!" in system


def test_chinese_question_gets_chinese_texts(tools):
    model = FakeModel(["你好！"])
    Agent(model, tools).decide([{"role": "user", "content": "你能做什么？"}])
    assert model.calls[0].messages[0]["content"] == render_template("agent_default_system", "zh")


def test_a_fixed_language_wins(tools):
    model = FakeModel(["好的"])
    Agent(model, tools, language="zh").decide([{"role": "user", "content": "What can you do?"}])
    assert model.calls[0].messages[0]["content"] == render_template("agent_default_system", "zh")
    prompt = Prompt(role="助手", language="zh")
    assert Agent(FakeModel([]), tools, prompt=prompt).language == "zh"
