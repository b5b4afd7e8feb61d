"""One root exception. Errors the *developer or user* must fix raise a subclass of
``KapibaraError`` with a message that says how to fix it; the CLI prints that message
on one line and exits non-zero. Errors the *model* can fix (bad arguments, unknown
tool) never raise: the agent turns them into observations.
"""

from __future__ import annotations

from typing import Any


class KapibaraError(Exception):
    """Root of every error kapibara raises on purpose. ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(KapibaraError):
    """Bad settings, bad spec string, bad file the user wrote."""


class MissingExtraError(KapibaraError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed",
            hint=f'run: pip install "kapibara[{extra}]"',
        )
        self.extra = extra


class ModelNotFoundError(KapibaraError):
    """Unknown model name, or a bundled model that was not pulled yet."""


class ModelCacheError(KapibaraError):
    """A cached model file is partial or corrupt."""


class BackendError(KapibaraError):
    """A model backend failed: server unreachable, HTTP error, load failure."""


class ToolDefinitionError(KapibaraError):
    """A tool is defined wrongly (missing type hint, bad YAML). The developer fixes it."""


class DataError(KapibaraError):
    """An input data file (cases, documents, sessions) is malformed."""


def require(module: str, package: str, extra: str) -> Any:
    """Import an optional dependency or raise MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package, extra) from exc
