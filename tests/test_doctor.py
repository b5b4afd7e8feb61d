"""``kapibara doctor``: system-info parsing, the known-bad builds it catches, child crashes
reported instead of suffered, and the CLI's JSON. No test here imports llama_cpp."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kapibara import doctor
from kapibara.cli import main
from kapibara.doctor import (
    BuildFlags,
    ChildResult,
    Finding,
    LlamaCppProbe,
    Report,
    check_build,
    check_instructions,
    check_threads,
    child_failure,
    enabled_features,
    features_turned_off,
    load_build_flags,
    parse_build_flags,
    parse_cpu_flags,
    parse_system_info,
    probe_llama_cpp,
    smoke_decode,
)

# llama.cpp 0.3.x, -march=native on the AMX VM where the demo died with SIGILL.
NATIVE_AMX = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
# Our pinned flags: the AVX2 baseline and nothing above it.
PORTABLE = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
# A GPU build lists each backend; ARM reports a numeric SVE_CNT.
MULTI_BACKEND = "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : NEON = 1 | SVE_CNT = 16 | "

# /proc/cpuinfo of the AMD EPYC VM these tests were written on: AVX2, no AVX-512, no AMX.
EPYC_CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext ssbd ibpb vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr virt_ssbd arat

processor\t: 1
flags\t\t: fpu
"""
EPYC = parse_cpu_flags(EPYC_CPUINFO)
SAPPHIRE_RAPIDS = EPYC | {"avx512f", "avx512bw", "avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"}

FLAGS = BuildFlags("0.3.36", "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF")
REBUILD = FLAGS.rebuild_command()


# --- parsing --------------------------------------------------------------------------


def test_system_info_is_parsed_into_features():
    info = parse_system_info(NATIVE_AMX)
    assert info["SSE3"] == "1" and info["AMX_INT8"] == "1"  # "CPU : " prefix dropped
    assert enabled_features(info) == [
        "SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX512", "AMX_INT8",
        "LLAMAFILE", "OPENMP", "REPACK",
    ]


def test_every_backend_of_the_system_info_is_read_values_kept_as_text():
    info = parse_system_info(MULTI_BACKEND)
    assert info["ARCHS"] == "890" and info["SVE_CNT"] == "16" and info["NEON"] == "1"
    assert "SVE_CNT" not in enabled_features(info)


def test_older_zero_valued_features_are_not_enabled():
    # llama.cpp before the backend registry printed every feature with 0 or 1.
    info = parse_system_info("AVX = 1 | AVX2 = 1 | AVX512 = 0 | AMX_INT8 = 0 | ")
    assert enabled_features(info) == ["AVX", "AVX2"]


def test_cpu_flags_come_from_the_first_processor():
    assert {"avx2", "fma", "f16c", "pni"} <= EPYC
    assert "avx512f" not in EPYC and "fpu" in EPYC
    assert parse_cpu_flags("Features\t: fp asimd evtstrm aes sve\n") == {"fp", "asimd", "evtstrm", "aes", "sve"}


def test_build_flags_file_parses_and_its_key_matches_the_install_script():
    flags = load_build_flags()
    assert flags.version.count(".") == 2
    assert "-DGGML_NATIVE=OFF" in flags.cmake_args.split()
    assert {"AVX512", "AMX_INT8"} <= features_turned_off(flags.cmake_args)
    script = Path(__file__).resolve().parents[1] / "scripts" / "install_llama_cpp.sh"
    if not (script.is_file() and shutil.which("bash") and shutil.which("sha256sum")):
        pytest.skip("needs the checkout's scripts/ and bash + sha256sum")
    # The exact pipeline of scripts/install_llama_cpp.sh, on the same file.
    pipeline = (
        'F=src/kapibara/models/llamacpp_build.txt; '
        "V=$(grep '^LLAMA_CPP_PYTHON_VERSION=' $F | cut -d= -f2-); "
        "C=$(grep '^CMAKE_ARGS=' $F | cut -d= -f2-); "
        "printf '%s\\n%s\\n' \"$V\" \"$C\" | sha256sum | cut -c1-12"
    )
    out = subprocess.run(["bash", "-c", pipeline], cwd=script.parents[1], capture_output=True, text=True)
    assert out.stdout.strip() == flags.key


def test_flags_file_without_cmake_args_is_a_clear_error():
    from kapibara.errors import KapibaraError

    with pytest.raises(KapibaraError, match="CMAKE_ARGS"):
        parse_build_flags("# comment\nLLAMA_CPP_PYTHON_VERSION=0.3.36\n")


def test_rebuild_command_works_outside_a_checkout():
    cmd = FLAGS.rebuild_command()
    assert cmd.startswith(f'CMAKE_ARGS="{FLAGS.cmake_args}" pip install --force-reinstall --no-cache-dir ')
    assert "--no-binary llama-cpp-python llama-cpp-python==0.3.36" in cmd
    assert "make llama-cpp" in cmd and "\n" not in cmd


# --- the instruction-set check ---------------------------------------------------------


def test_amx_build_is_an_error_even_where_the_cpu_advertises_amx():
    features = enabled_features(parse_system_info(NATIVE_AMX))
    found = check_instructions(features, SAPPHIRE_RAPIDS, REBUILD)
    assert [f.level for f in found] == ["error"]
    assert "AMX_INT8" in found[0].message and "advertises AMX" in found[0].message
    assert found[0].fix == REBUILD


def test_native_build_on_a_cpu_without_avx512_names_the_missing_sets():
    features = enabled_features(parse_system_info(NATIVE_AMX))
    found = check_instructions(features, EPYC, REBUILD)
    assert [f.level for f in found] == ["error", "error"]
    assert "no AMX" in found[0].message
    assert "uses AVX512, which this CPU does not advertise" in found[1].message
    assert all(f.fix == REBUILD for f in found)


def test_portable_build_on_an_avx2_cpu_is_ok():
    found = check_instructions(enabled_features(parse_system_info(PORTABLE)), EPYC, REBUILD)
    assert [f.level for f in found] == ["ok"]
    assert "AVX2" in found[0].message


def test_avx2_build_on_an_older_cpu_is_an_error():
    sandy_bridge = EPYC - {"avx2", "fma", "f16c", "bmi2"}
    found = check_instructions(enabled_features(parse_system_info(PORTABLE)), sandy_bridge, REBUILD)
    assert [f.level for f in found] == ["error"]
    assert "AVX2, F16C, FMA, BMI2" in found[0].message


def test_without_cpu_flags_only_amx_is_judged():
    assert check_instructions(["AVX2", "AVX512"], None, REBUILD) == []
    assert [f.level for f in check_instructions(["AMX_INT8"], None, REBUILD)] == ["error"]


# --- the pinned-build check -------------------------------------------------------------


def test_build_check_verdicts(tmp_path):
    stamp = tmp_path / ".kapibara-llama-cpp"
    portable = ["AVX2", "FMA"]

    def levels(version, key, features=portable):
        return [(f.level, f.message) for f in check_build(version, key, features, FLAGS, stamp)]

    assert levels(None, None) == []  # not installed: the probe's error covers it
    assert levels("0.3.36", FLAGS.key)[0][0] == "ok"
    assert "kapibara pins 0.3.36" in levels("0.3.16", FLAGS.key)[0][1]
    assert "not built by kapibara's install script" in levels("0.3.36", None)[0][1]
    assert "built with other flags" in levels("0.3.36", "0123456789ab")[0][1]
    # a stale stamp: the build shows what the pinned flags turn off
    assert "reports AVX512" in levels("0.3.36", FLAGS.key, portable + ["AVX512"])[0][1]
    for version, key in [("0.3.16", FLAGS.key), ("0.3.36", None), ("0.3.36", "0123456789ab")]:
        (finding,) = check_build(version, key, portable, FLAGS, stamp)
        assert finding.level == "warn" and finding.fix == REBUILD


def test_threads_check():
    assert check_threads(None, 2, 2) == []
    assert check_threads(2, 2, 64) == []
    (more,) = check_threads(8, 2, 8)
    assert more.level == "warn" and "8" in more.message and more.fix.startswith("set KAPIBARA_THREADS=2")
    # unset: LlamaCppModel uses os.cpu_count(), which a cpuset can make too large
    (unset,) = check_threads(None, 4, 64)
    assert unset.level == "warn" and "os.cpu_count() = 64" in unset.message


# --- children: a crash is reported, never suffered ---------------------------------------


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_smoke_decode_reports_a_sigill_child(tmp_path):
    sigill = _py("import os, signal; os.kill(os.getpid(), signal.SIGILL)")
    finding, line = smoke_decode(tmp_path / "m.gguf", 2, REBUILD, argv=sigill)
    assert finding.level == "error"
    assert "died by SIGILL" in finding.message and "illegal instruction" in finding.message
    assert finding.fix == REBUILD and line == finding.message


def test_smoke_decode_reports_a_timeout(tmp_path):
    finding, _ = smoke_decode(tmp_path / "m.gguf", 2, REBUILD, argv=_py("import time; time.sleep(30)"), timeout=0.5)
    assert finding.level == "error"
    assert "did not finish in 0.5 s" in finding.message
    assert REBUILD in finding.fix


def test_smoke_decode_ok_reads_the_childs_json(tmp_path):
    ok = _py('print("llama.cpp log line"); print(\'{"tokens": 4, "seconds": 0.25, "text": "x"}\')')
    finding, line = smoke_decode(tmp_path / "m.gguf", 2, REBUILD, argv=ok)
    assert finding.level == "ok" and line == "4 tokens in 0.25 s"


def test_child_exiting_non_zero_shows_its_last_error_line():
    result = ChildResult(1, "", "Traceback ...\nOSError: libllama.so: cannot open shared object file", 0.1)
    finding = child_failure("importing llama_cpp", result, 60, REBUILD)
    assert finding is not None and finding.level == "error"
    assert finding.message == "importing llama_cpp failed: OSError: libllama.so: cannot open shared object file"


def test_probe_reports_an_import_that_dies_by_a_signal():
    probe = probe_llama_cpp(FLAGS, argv=_py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"))
    assert probe.system_info is None and probe.failure is not None
    assert "importing llama_cpp died by SIGSEGV" in probe.failure.message


def test_probe_reads_the_system_info_a_child_prints():
    payload = json.dumps({"version": "0.3.36", "system_info": PORTABLE})
    code = f"print({payload!r})"
    probe = probe_llama_cpp(FLAGS, argv=_py(code))
    assert probe.failure is None and probe.system_info == PORTABLE


# --- the whole report, with the collectors faked ------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty KAPIBARA_HOME: no models pulled, no config, nothing hashed."""
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KAPIBARA_THREADS", raising=False)
    return tmp_path / "home"


def test_report_from_an_amx_build_has_the_error_and_the_rebuild_fix(home):
    report = doctor.collect(
        smoke=True,  # no model pulled: the decode is skipped with a warning
        probe=lambda flags: LlamaCppProbe("0.3.36", NATIVE_AMX),
        cpuinfo=lambda: EPYC_CPUINFO,
    )
    data = report.to_dict()
    assert data["llama_cpp"]["features"][-4:] == ["AMX_INT8", "LLAMAFILE", "OPENMP", "REPACK"]
    assert data["cpu"]["model"] == "AMD EPYC" and "avx512f" not in data["cpu"]["flags"]
    errors = [f.message for f in report.errors]
    assert any("AMX kernels" in m for m in errors) and any("uses AVX512" in m for m in errors)
    assert all(f.fix == load_build_flags().rebuild_command() for f in report.errors)
    assert Finding("warn", "no bundled model is pulled, so no test decode was run",
                   "run: kapibara models pull qwen2.5-coder-0.5b") in report.findings
    assert data["smoke"]["result"] == "skipped (no bundled model pulled)"
    assert data["ok"] is False


def test_report_without_llama_cpp_says_how_to_install_it(home):
    missing = LlamaCppProbe(None, None, Finding("error", "llama-cpp-python is not installed", "x"))
    report = doctor.collect(probe=lambda flags: missing, cpuinfo=lambda: None)
    assert report.errors == [missing.failure]
    assert report.to_dict()["smoke"]["result"] == "skipped (llama_cpp cannot be imported)"


def test_install_fix_passes_the_pinned_flags(monkeypatch):
    monkeypatch.setattr(doctor.importlib.util, "find_spec", lambda name: None)
    probe = probe_llama_cpp(FLAGS)
    assert probe.failure is not None and probe.version is None
    assert probe.failure.fix.startswith(f'CMAKE_ARGS="{FLAGS.cmake_args}" pip install --no-cache-dir')
    assert '"kapibara[llamacpp]"' in probe.failure.fix and "make install" in probe.failure.fix


def test_bad_config_is_a_finding_not_a_crash(home):
    home.mkdir()
    (home / "config.yaml").write_text("threads: many\n", encoding="utf-8")
    report = doctor.collect(smoke=False, probe=lambda flags: LlamaCppProbe("0.3.36", PORTABLE),
                            cpuinfo=lambda: EPYC_CPUINFO)
    assert any(f.level == "error" and "threads" in f.message for f in report.findings)


# --- the CLI ------------------------------------------------------------------------------


def test_cli_json_has_every_section(home, capsys):
    rc = main(["doctor", "--json", "--no-smoke"])
    data = json.loads(capsys.readouterr().out)
    assert {"kapibara", "python", "platform", "cpu", "llama_cpp", "models", "smoke", "threads",
            "home", "extras", "postgres", "findings", "ok"} <= data.keys()
    assert data["python"]["executable"] == sys.executable
    assert data["home"] == {"path": str(home), "from": "$KAPIBARA_HOME", "exists": False, "writable": True}
    assert data["smoke"] == {"result": "skipped (--no-smoke)"}
    assert set(data["models"]) == {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    assert data["extras"]["llamacpp"] in ("installed", "missing")
    assert all(f["level"] in ("ok", "warn", "error") for f in data["findings"])
    assert rc == (0 if data["ok"] else 1)


def _fixed(report: Report):
    return lambda **kwargs: report


@pytest.mark.parametrize(("level", "code"), [("ok", 0), ("warn", 0), ("error", 1)])
def test_cli_exit_code_is_1_only_for_errors(level, code, monkeypatch, capsys):
    from kapibara.commands import doctor as command

    report = Report([], [Finding(level, "something", "do this")])
    monkeypatch.setattr(command, "collect", _fixed(report))
    assert main(["doctor", "--no-smoke"]) == code
    out = capsys.readouterr().out
    mark = {"ok": "✓", "warn": "!", "error": "✗"}[level]
    assert f"{mark} something" in out
    assert ("fix: do this" in out) == (level != "ok")


def test_home_writable_checks_the_nearest_existing_folder(tmp_path):
    assert doctor.home_writable(tmp_path / "not" / "yet")  # created on first use
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    assert not doctor.home_writable(blocker / "home")  # a file where a folder must go


def test_docs_show_the_current_rebuild_command():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text(encoding="utf-8")
    flags = load_build_flags()
    assert f'CMAKE_ARGS="{flags.cmake_args}"' in docs  # llamacpp_build.txt changed: update docs/models.md
    assert f"llama-cpp-python=={flags.version}" in docs
