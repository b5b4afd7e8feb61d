"""Tools defined in YAML/JSON: Python targets, real HTTP endpoints, and helpful errors."""

from __future__ import annotations

import json
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from kapibara.errors import ToolDefinitionError
from kapibara.models.base import ToolCall
from kapibara.tools import ToolContext, execute_call, load_tools

MODULE = '''
from kapibara.tools import ToolContext

def get_weather(city: str, date: str = "today") -> str:
    """查询天气。

    Args:
        city: 城市
        date: 日期
    """
    return f"{city} {date}: 晴"

def add_to_cart(product_name, quantity=1, ctx: ToolContext = None):
    ctx.state.setdefault("cart", []).append([product_name, quantity])
    return ctx.state["cart"]

NOT_CALLABLE = 3
'''


@pytest.fixture
def target_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "kb_yaml_targets.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "kb_yaml_targets"


def write(tmp_path: Path, text: str, name: str = "tools.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_python_target_with_schema_from_file_and_context(tmp_path, target_module):
    path = write(
        tmp_path,
        f"""
        - name: add_to_cart
          description: 加入购物车
          target: {target_module}:add_to_cart
          parameters:
            type: object
            properties:
              product_name: {{type: string}}
              quantity: {{type: integer, minimum: 1, maximum: 99, default: 1}}
            required: [product_name]
        """,
    )
    ts = load_tools(path)
    assert ts.names == ["add_to_cart"]
    t = ts.get("add_to_cart")
    assert t is not None and t.context_param == "ctx" and t.target == f"{target_module}:add_to_cart"
    ctx = ToolContext(session_id="s")
    r = execute_call(ts, ToolCall("add_to_cart", {"product_name": "牛奶"}), ctx)
    assert r.ok, r.output
    assert ctx.state["cart"] == [["牛奶", 1]]
    bad = execute_call(ts, ToolCall("add_to_cart", {"product_name": "牛奶", "quantity": 500}), ctx)
    assert bad.error_kind == "invalid_arguments" and "must be <= 99" in bad.output


def test_python_target_without_parameters_uses_hints_and_docstring(tmp_path, target_module):
    path = write(tmp_path, json.dumps({"tools": [{"name": "weather", "target": f"{target_module}:get_weather"}]}), "tools.json")
    ts = load_tools(path)
    fn = ts.specs()[0]["function"]
    assert fn["name"] == "weather" and fn["description"] == "查询天气。"
    assert fn["parameters"]["required"] == ["city"]
    assert execute_call(ts, ToolCall("weather", {"city": "杭州"})).output == "杭州 today: 晴"


class _Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        if url.path.startswith("/fail"):
            self._reply(503, {"error": "maintenance"})
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self._reply(200, {"path": url.path, "query": query, "key": self.headers.get("X-Key")})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self._reply(200, {"path": self.path, "body": body})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_tools_get_and_post_against_a_real_server(tmp_path, server, monkeypatch):
    monkeypatch.setenv("KB_TEST_KEY", "secret-1")
    path = write(
        tmp_path,
        f"""
        tools:
          - name: weather
            description: 天气
            http: {{url: "{server}/weather/{{city}}", method: get, headers: {{X-Key: "${{KB_TEST_KEY}}"}}}}
            parameters:
              type: object
              properties:
                city: {{type: string}}
                date: {{type: string, default: today}}
              required: [city]
          - name: create_order
            description: 下单
            http: {{url: "{server}/orders"}}
            parameters:
              type: object
              properties:
                items: {{type: array, items: {{type: string}}}}
                express: {{type: boolean}}
              required: [items]
          - name: down
            description: 维护中
            http: {{url: "{server}/fail", method: GET}}
            parameters: {{type: object, properties: {{}}}}
        """,
    )
    ts = load_tools(path)
    got = execute_call(ts, ToolCall("weather", {"city": "北京"}))
    assert got.ok, got.output
    reply = json.loads(got.output)
    assert reply["path"] == "/weather/%E5%8C%97%E4%BA%AC"
    assert reply["query"] == {"date": "today"}
    assert reply["key"] == "secret-1"

    posted = execute_call(ts, ToolCall("create_order", {"items": ["牛奶", "车厘子"]}))
    assert json.loads(posted.output) == {"path": "/orders", "body": {"items": ["牛奶", "车厘子"]}}

    failed = execute_call(ts, ToolCall("down", {}))
    assert failed.error_kind == "tool_error"
    assert "HTTP 503" in failed.output and "maintenance" in failed.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: x\n  description: no target\n", "exactly one of 'target'"),
        ("- name: x\n  target: nowhere_module_xyz:f\n", "cannot import module 'nowhere_module_xyz'"),
        ("- name: x\n  target: json\n", "must look like 'package.module:function'"),
        ("- name: x\n  target: json:no_such_fn\n", "has no attribute 'no_such_fn'"),
        ("- name: x\n  http: {url: 'ftp://a'}\n  parameters: {type: object}\n", "'http.url'"),
        ("- name: x\n  http: {url: 'http://a'}\n", "needs 'parameters'"),
        ("- name: x\n  target: json:dumps\n  parameters: {type: string}\n", "type 'object'"),
        ("- name: x\n  target: json:dumps\n  colour: red\n", "'colour': Extra inputs are not permitted"),
        ("- description: nameless\n  target: json:dumps\n", "'name': Field required"),
        ("- name: x\n  target: kapibara.tools.execute:format_output\n- name: x\n  target: kapibara.tools.execute:format_output\n", "duplicate tool name 'x'"),
        ("name: x\n", "expected a list of tools"),
        ("- [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_file_entry_and_problem(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ToolDefinitionError) as info:
        load_tools(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    if "#" in message:
        assert "tool #" in message


def test_bad_entry_names_its_position_and_name(tmp_path):
    path = write(tmp_path, "- name: ok\n  target: kapibara.tools.execute:format_output\n- name: broken_one\n  target: json:nope\n")
    with pytest.raises(ToolDefinitionError, match=r"tool #2 \('broken_one'\)"):
        load_tools(path)


def test_untyped_target_without_parameters_is_rejected(tmp_path):
    path = write(tmp_path, "- name: dump\n  target: json:dumps\n")
    with pytest.raises(ToolDefinitionError, match="parameter 'obj' has no type hint"):
        load_tools(path)


def test_missing_file(tmp_path):
    with pytest.raises(ToolDefinitionError, match="cannot read tools file"):
        load_tools(tmp_path / "absent.yaml")
