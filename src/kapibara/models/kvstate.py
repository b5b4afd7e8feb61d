"""Saved prefix states on disk: the KV cache of a fixed prompt prefix, as plain functions.

A state file is ``MAGIC``, one JSON header line, the prefix's token ids (int32) and the
backend's opaque state bytes. Its name carries the model file's identity, ``n_ctx``, the
token count and a hash of the tokens, so a process finds the states that fit its prompt
without reading them. What the bytes mean is the backend's business (``llamacpp.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kapibara.fileio import write_atomic

MAGIC = b"KAPIBARA-KV1\n"


def file_identity(path: Path, salt: str = "") -> str:
    """A cheap fingerprint of a model file: size + first and last MiB (+ ``salt``, e.g. the
    llama.cpp version, whose state format may change).

    Hashing the whole file costs seconds; this catches any replacement of the file while
    staying valid when the file is copied (mtime is not part of it).
    """
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    h.update(salt.encode())
    return h.hexdigest()


def tokens_key(identity: str, n_ctx: int, tokens: Sequence[int]) -> str:
    """The hash that names a state of exactly these tokens."""
    h = hashlib.sha256(f"{identity}:{n_ctx}:".encode())
    h.update(np.asarray(tokens, dtype=np.int32).tobytes())
    return h.hexdigest()[:32]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if int(x) != int(y):
            break
        n += 1
    return n


def reusable(cached: Sequence[int], tokens: Sequence[int], fresh_logits: bool) -> int:
    """How many of ``tokens`` the KV cache holding ``cached`` can keep: the one rule for
    every prefill.

    An identical prompt whose logits are still fresh needs nothing evaluated; otherwise
    at least the last prompt token is evaluated again, to get logits to sample from.
    """
    common = common_prefix(cached, tokens)
    if common == len(tokens) == len(cached) and fresh_logits:
        return common
    return max(0, min(common, len(tokens) - 1))


def state_files(folder: Path, identity: str, n_ctx: int) -> list[tuple[int, str, Path]]:
    """Saved states of this model and ``n_ctx``: ``(n_tokens, key, path)``, longest first."""
    prefix = f"{identity[:16]}-{n_ctx}-"
    out: list[tuple[int, str, Path]] = []
    if not folder.is_dir():
        return out
    for p in folder.glob(prefix + "*.kvstate"):
        parts = p.stem.split("-")
        if len(parts) == 4 and parts[2].isdigit():
            out.append((int(parts[2]), parts[3], p))
    return sorted(out, reverse=True)


def find_state(folder: Path, identity: str, n_ctx: int, tokens: Sequence[int]) -> Path | None:
    """The saved state of exactly ``tokens``, if there is one."""
    key = tokens_key(identity, n_ctx, tokens)
    for n, saved, path in state_files(folder, identity, n_ctx):
        if n == len(tokens) and saved == key:
            return path
    return None


def write_state(folder: Path, identity: str, n_ctx: int, tokens: Sequence[int], data: bytes,
                model_name: str) -> Path:
    """Write a state file atomically (a reader never sees half of one); returns its path."""
    key = tokens_key(identity, n_ctx, tokens)
    dest = folder / f"{identity[:16]}-{n_ctx}-{len(tokens)}-{key}.kvstate"
    header = json.dumps({"n_tokens": len(tokens), "state_bytes": len(data), "model": model_name,
                         "n_ctx": n_ctx}).encode()
    ids = np.asarray(tokens, dtype=np.int32).tobytes()
    return write_atomic(dest, MAGIC + header + b"\n" + ids + data)


def read_state(path: Path, tokens: Sequence[int]) -> bytes | None:
    """The state bytes of ``path`` if it holds exactly ``tokens`` and is whole; else None."""
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        return None
    head_end = raw.find(b"\n", len(MAGIC))
    if head_end < 0:
        return None
    try:
        header = json.loads(raw[len(MAGIC):head_end])
        n = int(header["n_tokens"])
        size = int(header["state_bytes"])
    except (ValueError, KeyError, TypeError):
        return None
    start = head_end + 1
    if n != len(tokens) or len(raw) < start + 4 * n:
        return None
    saved = np.frombuffer(raw, dtype=np.int32, count=n, offset=start)
    if saved.tolist() != list(tokens):
        return None
    data = raw[start + 4 * n:]
    return data if len(data) == size else None
