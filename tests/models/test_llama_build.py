"""Guard: the installed llama.cpp is kapibara's pinned portable build, not ``-march=native``.

pip's default build compiles for the machine it runs on. On a VM advertising AMX that
build took ggml's AMX kernels and the demo died with SIGILL (``tilezero`` in
``ggml_backend_amx_mul_mat``). Our flags (src/kapibara/models/llamacpp_build.txt) turn
AVX-512 and AMX off, so a build that reports either was not made with them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import pytest

from kapibara.doctor import (
    enabled_features,
    load_build_flags,
    parse_system_info,
    probe_llama_cpp,
    read_stamp,
    stamp_path,
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (make install builds it with the pinned flags)",
)


@pytest.fixture(scope="module")
def features() -> list[str]:
    # Read in a child process, as `kapibara doctor` does: a build this CPU cannot run
    # fails this test instead of killing pytest.
    probe = probe_llama_cpp(load_build_flags())
    assert probe.failure is None, f"{probe.failure.message}; fix: {probe.failure.fix}"
    assert probe.system_info, "llama_print_system_info() returned nothing"
    return enabled_features(parse_system_info(probe.system_info))


def test_build_has_no_amx_and_no_avx512(features):
    assert "AVX2" in features, f"not the AVX2 baseline: {features}"
    wrong = [f for f in features if f.startswith(("AMX", "AVX512"))]
    assert not wrong, f"llama.cpp was built with {wrong}: rebuild with `make llama-cpp`"


def test_stamp_matches_the_flags_file():
    flags = load_build_flags()
    assert importlib.metadata.version("llama-cpp-python") == flags.version
    stamp = read_stamp(stamp_path())
    assert stamp == flags.key, (
        f"{stamp_path()} holds {stamp!r}, the flags file's key is {flags.key}: "
        "llama-cpp-python was not installed by scripts/install_llama_cpp.sh with the current "
        "flags; run `make llama-cpp`"
    )


def _cmake_configs() -> list[Path]:
    files = importlib.metadata.files("llama-cpp-python") or []
    return [Path(str(f.locate())) for f in files if str(f).endswith(".cmake")]


def test_installed_cmake_config_records_the_pinned_ggml_options():
    # ggml's installed ggml-config.cmake records every GGML_* cache variable of the build
    # as `set(GGML_X "VALUE")`: the one place the wheel says how it was configured.
    recorded: dict[str, str] = {}
    for path in _cmake_configs():
        text = path.read_text(encoding="utf-8", errors="replace")
        recorded.update(re.findall(r'^set\((GGML_\w+) "([^"]*)"\)$', text, re.M))
    if "GGML_NATIVE" not in recorded:
        pytest.skip("the installed llama-cpp-python ships no CMake config recording GGML_NATIVE")
    assert recorded["GGML_NATIVE"] == "OFF"
    wanted = dict(
        arg.removeprefix("-D").split("=", 1)
        for arg in load_build_flags().cmake_args.split()
        if arg.startswith("-DGGML_")
    )
    differ = {k: (v, recorded.get(k)) for k, v in wanted.items() if recorded.get(k) != v}
    assert not differ, f"built with other GGML options (wanted, recorded): {differ}"
