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


def test_one_agent_answers_each_user_in_their_language(tools):
    prompts = {"zh": Prompt(role="你是购物助手。", language="zh"), "en": Prompt(role="You are a shopping assistant.", language="en")}
    model = FakeModel(["好的", "Sure"])
    agent = Agent(model, tools, prompt=prompts)
    assert agent.language is None  # no language fixed: each run follows its question
    agent.run("推荐耳机")
    agent.run("Suggest some headphones")
    assert "你是购物助手" in model.calls[0].messages[0]["content"]
    assert "You are a shopping assistant" in model.calls[1].messages[0]["content"]


def test_history_is_given_without_a_store(tools):
    model = FakeModel(["它的电池是5000mAh。"])
    history = [{"role": "user", "content": "小米14怎么样"}, {"role": "assistant", "content": "小米14拍照很好。"}]
    Agent(model, tools).run("那它的电池呢？", history=history)
    sent = [m["content"] for m in model.calls[0].messages]
    assert sent[1:] == ["小米14怎么样", "小米14拍照很好。", "那它的电池呢？"]
