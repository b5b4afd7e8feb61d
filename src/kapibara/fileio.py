"""Atomic file writes: a temp file in the same folder, then ``os.replace``, so a reader
or a crash never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp file's path in ``path``'s folder, renamed over ``path`` when the block ends.

    For writers that take a file name or stream a large file (a C library's ``save``,
    ``savefig``, a download hashed as it is written). On a clean exit the file is
    fsynced, given the usual mode and renamed over ``path``; on an exception it is
    removed and ``path`` is left as it was. The temp name ends with ``suffix``: pass the
    extension when the writer picks the format from it (``suffix=".png"``) or appends one.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def jsonl_text(rows: Iterable[Any]) -> str:
    """Rows as JSON Lines text: one object per line, UTF-8 characters kept (no ``\\u``)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_jsonl_atomic(path: str | Path, rows: Iterable[Any]) -> Path:
    """Write rows as JSON Lines (UTF-8, no ``\\u`` escapes) atomically."""
    return write_atomic(path, jsonl_text(rows))
