"""Bad input everywhere a user types or points at something (part of ``bench/reliability.py``).

Every case runs the real CLI (``kapibara.cli.main``, in this process, stdout and stderr
captured; model files in a subprocess, because a bad GGUF could crash llama.cpp itself)
against a file this module generates: tool configs (``run --tools``), prompt YAML
(``run --prompt``), eval case files (``eval PATH``), knowledge-base documents
(``kb ingest``), model files (``--model llamacpp:FILE``), CLI arguments, and a full disk
(a 256 KiB tmpfs when this runs as root and may mount one, else ENOSPC raised by a patched
``os.write``/``open``; the report says which).

A case passes when the command exits non-zero with one ``error:`` line and a ``hint:``
(or click's usage error, which names ``--help``), prints no traceback, leaves no temporary
file behind, and a knowledge base and a session store that existed before are unchanged.
Knowledge-base ingestion of a bad *document* is different by design: ``kb ingest`` reports
the file as skipped, with the reason on one line, and goes on with the others; a case
there passes when the bad file is reported skipped, nothing raised and nothing stored
was damaged.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FAKE = "fake:ok"


@dataclass
class Outcome:
    """What one CLI run did."""

    argv: list[str]
    rc: int
    out: str
    err: str
    raised: str = ""


@dataclass
class Verdict:
    case: str
    area: str
    ok: bool
    why: str = ""
    first_line: str = ""


@dataclass
class Env:
    """A scratch KAPIBARA_HOME with a session store and (optionally) a knowledge base
    already in it, to prove bad input damages nothing stored."""

    root: Path
    home: Path = field(init=False)
    files: Path = field(init=False)
    db: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.files = self.root / "files"
        self.db = self.home / "sessions.db"
        self.files.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_cli(argv: list[str], env: Env, stdin: str = "") -> Outcome:
    """``kapibara ARGV`` in this process with ``env``'s home; never raises."""
    from kapibara.cli import main

    out, err = io.StringIO(), io.StringIO()
    raised = ""
    rc = 0
    # In the scratch folder: a relative path a user (or hypothesis) typed lands there.
    with _environ(KAPIBARA_HOME=str(env.home), KAPIBARA_SESSION_DB=str(env.db), COLUMNS="200"), \
            contextlib.chdir(env.root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        old_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - what a user would see as a traceback
            raised = traceback.format_exc()
            rc = 1
        finally:
            sys.stdin = old_stdin
    return Outcome(argv, rc, out.getvalue(), err.getvalue(), raised)


def run_cli_subprocess(argv: list[str], env: Env, timeout: float = 120) -> Outcome:
    """``kapibara ARGV`` in a child process (a crash in native code is a failed case)."""
    envvars = {**os.environ, "KAPIBARA_HOME": str(env.home), "KAPIBARA_SESSION_DB": str(env.db),
               "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    try:
        proc = subprocess.run([sys.executable, "-m", "kapibara.cli", *argv], env=envvars, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=env.root)
    except subprocess.TimeoutExpired:
        return Outcome(argv, -1, "", "", f"timed out after {timeout}s")
    raised = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else ""
    return Outcome(argv, proc.returncode, proc.stdout, proc.stderr, raised)


def judge_error(o: Outcome) -> tuple[bool, str]:
    """An error case: exit != 0, one error line with a hint, no traceback."""
    if o.raised:
        return False, "raised: " + o.raised.strip().splitlines()[-1][:200]
    if "Traceback" in o.err or "Traceback" in o.out:
        return False, "printed a traceback"
    if o.rc == 0:
        return False, "exit code 0"
    lines = [ln for ln in o.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if errors:
        if len(errors) != 1:
            return False, f"{len(errors)} error lines"
        if not any(ln.strip().startswith("hint:") for ln in lines):
            return False, "no hint: " + errors[0][:160]
        return True, ""
    if "--help" in o.err and ("Error" in o.err or "error" in o.err):  # click's usage error
        return True, ""
    return False, f"no error line (rc={o.rc}): {(o.err or o.out).strip()[:160]!r}"


def first_line(o: Outcome) -> str:
    for ln in o.out.splitlines():
        if ln.strip().startswith("skipped "):
            return ln.strip()[:200]
    for ln in o.err.splitlines():
        if ln.startswith("error:") or "Error" in ln:
            return ln.strip()[:200]
    return (o.err or o.out).strip().splitlines()[0][:200] if (o.err or o.out).strip() else ""


# -- the corpus --------------------------------------------------------------------------


def nasty_texts(rng: random.Random) -> dict[str, bytes]:
    """File contents that break naive loaders, keyed by a short name."""
    nested = "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 200))
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    return {
        "empty": b"",
        "whitespace": b"  \n\t\n",
        "binary": bytes(rng.getrandbits(8) for _ in range(4096)),
        "nul_bytes": b"\x00" * 512,
        "latin1": "tools:\n  - name: caf\xe9\n".encode("latin-1"),
        "utf16": "tools:\n  - name: x\n".encode("utf-16"),
        "bad_yaml": b"tools: [unclosed\n  - : :\n",
        "tabs_yaml": b"tools:\n\t- name: x\n",
        "a_list": b"- 1\n- 2\n",
        "a_scalar": b"42\n",
        "null": b"null\n",
        "json_array": b"[1, 2, 3]",
        "bad_json": b'{"tools": [',
        "deep_json": ("[" * 5000 + "]" * 5000).encode(),
        "deep_yaml": nested.encode(),
        "billion_laughs": laughs.encode(),
        "wrong_types": b"tools:\n  - name: 5\n    description: [1]\n    parameters: yes\n",
        "unknown_keys": b"bogus: 1\nmore_bogus: {x: 1}\n",
        "huge_line": b"x: " + b"a" * 2_000_000 + b"\n",
        "jsonl_mixed": b'{"id": 1}\nnot json\n{"id": \n',
    }


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def snapshot(env: Env) -> dict[str, str]:
    """Hashes of every stored file outside the scratch inputs (WAL/shm excluded: SQLite
    rewrites them on open), plus the list of temp files."""
    out = {}
    for p in sorted(env.home.rglob("*")):
        if p.is_file() and not p.name.endswith(("-wal", "-shm", ".lock")):
            out[str(p.relative_to(env.home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(env: Env, before: dict[str, str]) -> list[str]:
    """Temporary or half-written files that appeared."""
    now = snapshot(env)
    return [name for name in now if name not in before and (".tmp" in name or name.endswith("~") or ".part" in name)]


def seed_store(env: Env) -> None:
    """A session that must survive every bad input untouched."""
    from kapibara.memory import open_store

    store = open_store(str(env.db))
    store.append("keep", [{"role": "user", "content": "remember me"}, {"role": "assistant", "content": "ok"}])
    store.close()


def store_intact(env: Env) -> bool:
    from kapibara.memory import open_store

    store = open_store(str(env.db))
    try:
        return store.messages("keep") == [{"role": "user", "content": "remember me"},
                                          {"role": "assistant", "content": "ok"}]
    finally:
        store.close()


# -- the cases ---------------------------------------------------------------------------------


Case = tuple[str, str, Callable[[Env], Outcome], str]
"""(area, name, run, kind): kind "error" (must fail cleanly) or "skip" (kb: reported skipped)."""


def file_cases(rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    texts = nasty_texts(rng)
    for name, data in texts.items():
        for ext in (".yaml", ".json"):
            def tools(env: Env, data: bytes = data, ext: str = ext, name: str = name) -> Outcome:
                f = _write(env.files / f"tools-{name}{ext}", data)
                return run_cli(["run", "hello", "--model", FAKE, "--tools", str(f), "--db", str(env.db)], env)

            cases.append(("tools config", f"{name}{ext}", tools, "error"))

        def prompt(env: Env, data: bytes = data, name: str = name) -> Outcome:
            f = _write(env.files / f"prompt-{name}.yaml", data)
            return run_cli(["run", "hello", "--model", FAKE, "--prompt", str(f), "--db", str(env.db)], env)

        cases.append(("prompt yaml", name, prompt, "error"))
        for ext in (".jsonl", ".json", ".yaml"):
            def evalcase(env: Env, data: bytes = data, ext: str = ext, name: str = name) -> Outcome:
                f = _write(env.files / f"cases-{name}{ext}", data)
                return run_cli(["eval", str(f), "--model", FAKE, "--out", str(env.root / "evals-out")], env)

            cases.append(("eval cases", f"{name}{ext}", evalcase, "error"))
    for what, path_of in (("missing file", lambda env: env.files / "nope.yaml"),
                          ("a directory", lambda env: env.files)):
        def tools_path(env: Env, path_of: Callable[[Env], Path] = path_of) -> Outcome:
            return run_cli(["run", "hello", "--model", FAKE, "--tools", str(path_of(env)), "--db", str(env.db)], env)

        cases.append(("tools config", what, tools_path, "error"))

        def prompt_path(env: Env, path_of: Callable[[Env], Path] = path_of) -> Outcome:
            return run_cli(["run", "hello", "--model", FAKE, "--prompt", str(path_of(env)), "--db", str(env.db)], env)

        cases.append(("prompt yaml", what, prompt_path, "error"))

        def eval_path(env: Env, path_of: Callable[[Env], Path] = path_of, what: str = what) -> Outcome:
            if what == "a directory":
                (env.root / "emptydir").mkdir(exist_ok=True)
            return run_cli(["eval", str(path_of(env) if what != "a directory" else env.root / "emptydir"),
                            "--model", FAKE, "--out", str(env.root / "evals-out")], env)

        cases.append(("eval cases", what, eval_path, "error"))
    return cases


def kb_cases(rng: random.Random, big: bool = False) -> list[Case]:
    """Documents for ``kb ingest``; ``big`` adds a 200 MB file (sparse, generated here)."""
    docs: dict[str, bytes] = {
        "empty.md": b"",
        "binary.md": bytes(rng.getrandbits(8) for _ in range(8192)),
        "latin1.txt": "caf\xe9 cr\xe8me br\xfbl\xe9e".encode("latin-1") * 50,
        "nul.txt": b"\x00" * 4096,
        "corrupt.pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + bytes(rng.getrandbits(8) for _ in range(2048)),
        "truncated.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        "nested.md": ("".join("  " * i + "- level\n" for i in range(3000)) + "> " * 3000 + "quote\n").encode(),
        "headings.md": ("#" * 10000 + " title\n").encode() * 3,
        "bad.json": b"{nope",
        "deep.json": ("[" * 5000 + "]" * 5000).encode(),
        "bad.jsonl": b'{"text": 1}\n{{{\n',
        "html_bomb.html": b"<div>" * 50000,
    }
    valid = {"empty.md", "nested.md", "headings.md", "html_bomb.html"}  # odd, but text: ingested
    cases: list[Case] = []
    for name, data in docs.items():
        def ingest(env: Env, data: bytes = data, name: str = name) -> Outcome:
            f = _write(env.files / "kbdocs" / name, data)
            return run_cli(["kb", "ingest", str(f), "--kb", "bad", "--embedder", "use"], env)

        cases.append(("kb ingest", name, ingest, "ingest" if name in valid else "skip"))
    if big:
        def huge(env: Env) -> Outcome:
            f = env.files / "kbdocs" / "huge.txt"
            f.parent.mkdir(parents=True, exist_ok=True)
            with open(f, "wb") as fh:  # 200 MB: a short text line then a sparse hole of NULs
                fh.write(b"lorem ipsum " * 100)
                fh.truncate(200 * 1024 * 1024)
            t0 = time.monotonic()
            o = run_cli(["kb", "ingest", str(f), "--kb", "bad", "--embedder", "use"], env)
            o.out += f"\n[{time.monotonic() - t0:.1f}s]"
            f.unlink()
            return o

        cases.append(("kb ingest", "200MB.txt", huge, "skip"))
    cases.append(("kb ingest", "missing path", lambda env: run_cli(
        ["kb", "ingest", str(env.files / "nope"), "--kb", "bad"], env), "error"))
    return cases


def model_cases(rng: random.Random, real_file: Path | None) -> list[Case]:
    """Bad model files, each loaded by ``kapibara generate`` in a child process."""
    header = b"GGUF" + (3).to_bytes(4, "little") + (2**40).to_bytes(8, "little") + (2**40).to_bytes(8, "little")
    files: dict[str, bytes] = {
        "empty.gguf": b"",
        "random.gguf": bytes(rng.getrandbits(8) for _ in range(65536)),
        "header_only.gguf": header,
        "huge_counts.gguf": header + bytes(rng.getrandbits(8) for _ in range(4096)),
        "text.gguf": b"this is not a model\n" * 100,
    }
    cases: list[Case] = []
    for name, data in files.items():
        def load(env: Env, data: bytes = data, name: str = name) -> Outcome:
            f = _write(env.files / "models" / name, data)
            return run_cli_subprocess(["generate", "hi", "--model", f"llamacpp:{f}", "--max-tokens", "4"], env)

        cases.append(("model file", name, load, "error"))
    if real_file is not None and real_file.exists():
        def truncated(env: Env) -> Outcome:
            f = env.files / "models" / "truncated.gguf"
            f.parent.mkdir(parents=True, exist_ok=True)
            with open(real_file, "rb") as src, open(f, "wb") as dst:
                dst.write(src.read(real_file.stat().st_size // 2))
            return run_cli_subprocess(["generate", "hi", "--model", f"llamacpp:{f}", "--max-tokens", "4"], env)

        cases.append(("model file", "truncated real 0.5B", truncated, "error"))

        def corrupted(env: Env) -> Outcome:
            f = env.files / "models" / "corrupt.gguf"
            with open(real_file, "rb") as src, open(f, "wb") as dst:
                dst.write(src.read(4096))
                dst.write(bytes(rng.getrandbits(8) for _ in range(1 << 20)))
            return run_cli_subprocess(["generate", "hi", "--model", f"llamacpp:{f}", "--max-tokens", "4"], env)

        cases.append(("model file", "corrupted real 0.5B", corrupted, "error"))
    cases.append(("model file", "a directory", lambda env: run_cli(
        ["generate", "hi", "--model", f"llamacpp:{env.files}"], env), "error"))
    cases.append(("model file", "missing", lambda env: run_cli(
        ["generate", "hi", "--model", "llamacpp:/nonexistent/x.gguf"], env), "error"))
    return cases


def full_disk_cases(mount: Path | None) -> list[Case]:
    """Writes onto a full disk: a mounted tmpfs (root) or ENOSPC raised by a patched open."""
    cases: list[Case] = []

    def on_full(env: Env, argv_of: Callable[[Path], list[str]],
                prepare: Callable[[Path], None] | None = None) -> Outcome:
        if mount is not None:
            target = mount / f"t{time.monotonic_ns()}"
            target.mkdir()
            if prepare is not None:
                prepare(target)
            filler = mount / "filler"
            with contextlib.suppress(OSError), open(filler, "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
            try:
                return run_cli(argv_of(target), env)
            finally:
                filler.unlink(missing_ok=True)
        with _enospc(env.root / "full"):
            return run_cli(argv_of(env.root / "full"), env)

    if mount is not None:  # SQLite writes from C: a patched Python open cannot fill its disk
        cases.append(("full disk", "session store", lambda env: on_full(
            env, lambda d: ["run", "hello", "--model", FAKE, "--db", str(d / "s.db")]), "error"))
        cases.append(("full disk", "session store fills up", lambda env: on_full(
            env, lambda d: ["run", "hello " * 2000, "--model", FAKE, "--db", str(d / "s.db")],
            prepare=lambda d: _seed_db(d / "s.db")), "error"))
    cases.append(("full disk", "eval output", lambda env: on_full(
        env, lambda d: ["eval", str(_cases_file(env)), "--model", FAKE, "--out", str(d / "out")]), "error"))
    cases.append(("full disk", "sessions export", lambda env: on_full(
        env, lambda d: ["sessions", "export", "keep", "--db", str(env.db), "-o", str(d / "keep.json")]), "error"))
    return cases


def _seed_db(path: Path) -> None:
    from kapibara.memory import open_store

    store = open_store(str(path))
    store.append("old", [{"role": "user", "content": "hi"}])
    store.close()


def _cases_file(env: Env) -> Path:
    case = {"id": "c1", "messages": [{"role": "user", "content": "hi"}], "tools": [], "expected": "no_call"}
    return _write(env.files / "good-cases.jsonl", json.dumps(case).encode() + b"\n")


@contextlib.contextmanager
def _enospc(under: Path) -> Iterator[None]:
    """Every write-mode open under ``under`` fails with ENOSPC (no tmpfs: not root)."""
    import builtins
    import errno

    real_open = builtins.open
    real_os_open = os.open
    under.mkdir(parents=True, exist_ok=True)
    prefix = str(under)

    def full(path: Any) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file).startswith(prefix) and any(c in mode for c in "wax+"):
            raise full(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(prefix) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise full(path)
        return real_os_open(path, flags, *args, **kwargs)

    builtins.open = fake_open
    os.open = fake_os_open
    try:
        yield
    finally:
        builtins.open = real_open
        os.open = real_os_open


def try_tmpfs(where: Path) -> Path | None:
    """A 256 KiB tmpfs at ``where`` when this process may mount one (root), else None."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return None
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True)
    return where if proc.returncode == 0 else None


def unmount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


# -- running ---------------------------------------------------------------------------------


def run_cases(cases: list[Case], env: Env) -> list[Verdict]:
    """Run each case and judge it; the store seeded before must survive all of them."""
    seed_store(env)
    verdicts = []
    for area, name, run, kind in cases:
        before = snapshot(env)
        o = run(env)
        if kind in ("skip", "ingest"):
            ok, why = judge_kb(o, kind)
        else:
            ok, why = judge_error(o)
        left = leftovers(env, before)
        if left:
            ok, why = False, f"left {left[:3]}"
        if not store_intact(env):
            ok, why = False, "the stored session changed"
        verdicts.append(Verdict(name, area, ok, why, first_line(o) if ok else ""))
    return verdicts


def judge_kb(o: Outcome, kind: str) -> tuple[bool, str]:
    """kb ingest of one document: no traceback; a bad one is reported skipped with its
    reason on one line (or refused with a clean error), an odd but valid one is added."""
    if o.raised:
        return False, "raised: " + o.raised.strip().splitlines()[-1][:200]
    if "Traceback" in o.err or "Traceback" in o.out:
        return False, "printed a traceback"
    if o.rc != 0:
        return judge_error(o)
    if kind == "ingest":
        return (" 1 added" in o.out, "" if " 1 added" in o.out else f"not added: {o.out.strip()[-160:]!r}")
    reasons = [ln for ln in o.out.splitlines() if ln.strip().startswith("skipped ") and ": " in ln]
    if " 1 skipped" in o.out and len(reasons) == 1:
        return True, ""
    return False, f"not reported skipped: {o.out.strip()[-160:]!r}"


def summarize(verdicts: list[Verdict]) -> dict[str, Any]:
    areas: dict[str, dict[str, int]] = {}
    for v in verdicts:
        a = areas.setdefault(v.area, {"cases": 0, "failures": 0})
        a["cases"] += 1
        a["failures"] += 0 if v.ok else 1
    return {"cases": len(verdicts), "failures": sum(not v.ok for v in verdicts), "by_area": areas,
            "failed": [{"area": v.area, "case": v.case, "why": v.why} for v in verdicts if not v.ok],
            "examples": {v.area: v.first_line for v in verdicts if v.ok and v.first_line}}


# -- CLI arguments, property-based -------------------------------------------------------------


def cli_argument_failures(env: Env, max_examples: int = 40, seed: int = 0) -> tuple[int, list[str]]:
    """Random argument lists for the commands a user types (hypothesis); each must end
    with exit 0, or a clean error (one line + hint, or click's usage error), never a
    traceback. Returns (examples tried, failures)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    texts = st.one_of(st.text(max_size=30), st.sampled_from(["", "-", "--", "0", "-1", "nan", "inf", "1e309",
                                                               "\x00", "🦫", "../../etc/passwd", "%s%n", "a" * 500]))
    numbers = st.one_of(st.integers(-10**12, 10**12).map(str), texts)
    models = st.sampled_from(["fake:ok", "llamacpp:/nonexistent/x.gguf", "openai:x@http://127.0.0.1:9",
                              "nope:thing", "", "fake:"])
    session_ids = texts.filter(lambda s: s != "keep")
    commands = st.one_of(
        st.tuples(st.just(["run"]), st.lists(st.sampled_from([
            ("--max-steps", numbers), ("--timeout", numbers), ("--language", texts), ("--protocol", texts),
            ("--session", session_ids), ("--model", models), ("--user", texts), ("--program", texts)]),
            max_size=4), texts),
        st.tuples(st.just(["eval"]), st.lists(st.sampled_from([
            ("--limit", numbers), ("--protocol", texts), ("--model", models), ("--concurrency", numbers)]),
            max_size=3), texts),
        st.tuples(st.sampled_from([["sessions", "show"], ["sessions", "export"], ["sessions", "traces"]]),
                  st.lists(st.sampled_from([("--db", texts)]), max_size=1), session_ids),
        st.tuples(st.sampled_from([["kb", "search"], ["kb", "stats"]]), st.lists(st.sampled_from([
            ("--kb", texts), ("-k", numbers), ("--mode", texts), ("--dense-weight", numbers)]), max_size=3), texts),
        st.tuples(st.sampled_from([["generate"], ["models", "pull"]]), st.lists(st.sampled_from([
            ("--model", models), ("--max-tokens", numbers)]), max_size=2), texts),
    )
    failures: list[str] = []
    tried = [0]

    @hseed(seed)
    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(commands.flatmap(lambda c: st.tuples(st.just(c[0]), st.just(c[1]),
                                                st.tuples(*[s for _, s in c[1]]) if c[1] else st.just(()),
                                                st.just(c[2]))))
    def one(drawn: Any) -> None:
        base, options, values, positional = drawn
        argv = list(base)
        if base[0] in ("run", "generate") and not any(o == "--model" for o, _ in options):
            argv += ["--model", "fake:ok"]  # never the real model by default
        if base == ["models", "pull"]:
            argv = ["models", "pull", positional[:20] + "-not-a-model"]
        else:
            for (opt, _), value in zip(options, values, strict=True):
                argv += [opt, value]
            if positional.startswith("-"):
                argv.append("--")
            argv.append(positional)
        tried[0] += 1
        o = run_cli(argv, env)
        if o.rc == 0 and not o.raised and "Traceback" not in o.err:
            return
        ok, why = judge_error(o)
        if not ok:
            failures.append(f"{argv!r:.200}: {why}")

    one()
    return tried[0], failures
