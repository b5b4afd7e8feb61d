"""Errors the *model* can fix. They are not ``KapibaraError``s on purpose: the executor
turns them into observations the model reads, they never reach the developer.
"""

from __future__ import annotations


class ToolArgumentError(ValueError):
    """The model's arguments do not fit the tool's schema.

    ``problems`` lists each issue in words a model can act on, e.g.
    ``"parameter 'quantity': must be <= 99"``.
    """

    def __init__(self, tool: str, problems: list[str]) -> None:
        self.tool = tool
        self.problems = problems
        super().__init__(f"invalid arguments for tool '{tool}': " + "; ".join(problems))
