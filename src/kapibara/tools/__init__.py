"""Typed tools for agents: ``@tool``, ``Tool``, ``ToolSet``, ``ToolContext``, execution,
and tools configured in YAML/JSON (Python targets or HTTP endpoints).

    from kapibara.tools import tool, ToolSet, execute_call

    @tool
    def get_weather(city: str, date: str = "today") -> str:
        \"\"\"查询城市天气。

        Args:
            city: 城市名，例如“北京”
            date: 日期
        \"\"\"
        ...
"""

from kapibara.tools.base import Tool
from kapibara.tools.config import load_tools, tools_from_config
from kapibara.tools.context import ToolContext
from kapibara.tools.decorator import tool, tool_from_function
from kapibara.tools.errors import ToolArgumentError
from kapibara.tools.execute import ToolResult, execute_call, execute_calls, format_output
from kapibara.tools.toolset import ToolSet

__all__ = [
    "Tool",
    "ToolArgumentError",
    "ToolContext",
    "ToolResult",
    "ToolSet",
    "execute_call",
    "execute_calls",
    "format_output",
    "load_tools",
    "tools_from_config",
    "tool",
    "tool_from_function",
]
