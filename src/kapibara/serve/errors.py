"""Errors a client made (or the server's limits), as OpenAI-style HTTP error bodies.

Every refusal the server gives has the body OpenAI's clients parse into their own
exception types: ``{"error": {"message", "type", "param", "code"}}`` with a 4xx/5xx
status (the ``openai`` SDK raises ``BadRequestError`` for 400, ``AuthenticationError``
for 401, ``NotFoundError`` for 404, ``RateLimitError`` for 429).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INVALID = "invalid_request_error"


@dataclass
class APIError(Exception):
    """A request the server refuses: HTTP ``status`` with an OpenAI error body."""

    status: int
    message: str
    type: str = INVALID
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    @property
    def kind(self) -> str:
        """The label of this error in the ``errors`` metric."""
        return self.code or self.type


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, INVALID, param, code)


def unknown_model(name: str, known: list[str]) -> APIError:
    return APIError(404, f"The model {name!r} does not exist; served here: {', '.join(known) or 'none'}",
                    INVALID, "model", "model_not_found")
