"""What the server tests share: client tool specs, the shop agent's tool set, a live server."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from kapibara.serve import AgentSpec
from kapibara.tools import ToolContext, ToolSet, tool

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the local time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@tool
def add_to_cart(product_name: str, ctx: ToolContext, quantity: int = 1) -> str:
    """Add a product to the cart.

    Args:
        product_name: the product
        quantity: how many
    """
    cart = ctx.state.setdefault("cart", {})
    cart[product_name] = cart.get(product_name, 0) + quantity
    return f"cart: {cart}"


def shop_tools() -> ToolSet:
    return ToolSet([add_to_cart])


SHOP = AgentSpec("shop", "serve-test-shop")




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


SESSION = {"X-Kapibara-Session": "erin"}
