#!/usr/bin/env bash
# Build llama-cpp-python once with kapibara's pinned, portable CPU flags and install it.
#
#   scripts/install_llama_cpp.sh [PYTHON]        # default PYTHON: .venv/bin/python
#   FORCE=1 scripts/install_llama_cpp.sh         # rebuild even if a cached wheel exists
#   NATIVE=1 scripts/install_llama_cpp.sh DIR    # only build a -march=native wheel into DIR (bench/models.py)
#
# The flags live in one file, src/kapibara/models/llamacpp_build.txt, which `kapibara
# doctor` reads too. pip's own wheel cache is keyed by the sdist, not by CMAKE_ARGS, so it
# could hand back a wheel built with other flags (e.g. -march=native with AMX): this
# script builds with --no-cache-dir into a folder named after a hash of version + flags,
# and installs exactly that wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
FLAGS_FILE=src/kapibara/models/llamacpp_build.txt
VERSION=$(grep '^LLAMA_CPP_PYTHON_VERSION=' "$FLAGS_FILE" | cut -d= -f2-)
CMAKE_FLAGS=$(grep '^CMAKE_ARGS=' "$FLAGS_FILE" | cut -d= -f2-)
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}

if [ "${NATIVE:-0}" = 1 ]; then
  # Only for measuring what portability costs; never installed by make.
  out=${1:?NATIVE=1 needs an output folder}
  CMAKE_FLAGS="-DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF"
  mkdir -p "$out"
  CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL=$JOBS python3 -m pip wheel --no-cache-dir --no-deps \
    --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -w "$out"
  exit 0
fi

KEY=$(printf '%s\n%s\n' "$VERSION" "$CMAKE_FLAGS" | sha256sum | cut -c1-12)
CACHE=${KAPIBARA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kapibara/wheels}/llama-cpp-python-$VERSION-$KEY
STAMP=$("$PY" -c 'import sys; print(sys.prefix)')/.kapibara-llama-cpp

if [ "${FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] \
   && "$PY" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
  exit 0  # this exact build is installed
fi

wheel=$(ls "$CACHE"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
if [ "${FORCE:-0}" = 1 ] || [ -z "$wheel" ]; then
  echo "building llama-cpp-python $VERSION with portable flags (about 7 minutes on 2 cores; once per machine)"
  echo "  CMAKE_ARGS=$CMAKE_FLAGS"
  tmp="$CACHE.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL=$JOBS "$PY" -m pip wheel --no-cache-dir --no-deps \
    --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -w "$tmp"
  printf '%s\n%s\n' "$VERSION" "$CMAKE_FLAGS" > "$tmp/flags.txt"
  rm -rf "$CACHE"
  mv "$tmp" "$CACHE"  # a finished build only ever has the final name
  wheel=$(ls "$CACHE"/llama_cpp_python-*.whl | head -n1)
fi
"$PY" -m pip install -q --force-reinstall --no-deps "$wheel"
# llama-cpp-python's own runtime dependencies (small, from PyPI)
"$PY" -m pip install -q "llama-cpp-python==$VERSION"
echo "$KEY" > "$STAMP"
