# The two commands of the README: `make demo` (main job on the bundled model) and
# `make test`. Both create and reuse .venv; repeated runs are fast.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= llamacpp,server,postgres,mcp,rag,vector,plot,bench,dev
MODEL ?= qwen2.5-coder-0.5b
Q ?= 我想买一款拍照好的手机，有推荐吗？

.PHONY: demo test lint install install-train bench-finetune bench-peers bench-reliability llama-cpp postgres-bin chromium bench-models bench-tool-use bench-retrieval clean

# llama-cpp-python compiles from source (~7 min once): scripts/install_llama_cpp.sh builds
# it with the portable flags of src/kapibara/models/llamacpp_build.txt and caches that
# wheel under a key of the flags. Every other dependency is pinned by constraints.txt.
$(BIN)/.kapibara-installed: pyproject.toml constraints.txt src/kapibara/models/llamacpp_build.txt scripts/install_llama_cpp.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	scripts/install_llama_cpp.sh $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

install: $(BIN)/.kapibara-installed

# The fine-tuning extra (torch CPU build, transformers, peft, gguf): the tests of the trainer
# and of the GGUF adapter export need it; `make demo` does not.
$(BIN)/.kapibara-train: $(BIN)/.kapibara-installed
	$(BIN)/python -m pip install -c constraints.txt -e ".[$(EXTRAS),train]"
	touch $@

install-train: $(BIN)/.kapibara-train

demo: install
	$(BIN)/kapibara models pull $(MODEL)
	$(BIN)/kapibara run "$(Q)"

test: install-train postgres-bin chromium
	$(BIN)/kapibara models pull $(MODEL)
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The tests start a throwaway PostgreSQL cluster; they need Debian's server programs.
postgres-bin:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else echo "PostgreSQL server programs are missing: run 'sudo apt-get install postgresql'"; exit 1; fi; }

# The web UI's tests drive Debian's chromium with Playwright (its own browser download
# does not work everywhere); CI=true makes a missing browser a failure, not a skip.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium'"; exit 1; fi; }

bench-models: install
	$(BIN)/python bench/models.py

bench-tool-use: install
	$(BIN)/python bench/tool_use.py

bench-retrieval: install
	$(BIN)/python bench/retrieval.py

# Rebuild llama-cpp-python with the pinned flags even if a cached wheel exists.
llama-cpp: 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	FORCE=1 scripts/install_llama_cpp.sh $(BIN)/python

clean:
	rm -rf $(VENV) build *.egg-info

# The tuned 0.5B measured (run `kapibara finetune lora --out runs/lora` first).
bench-finetune: install-train
	$(BIN)/python bench/finetune.py --run runs/lora

# kapibara against Qwen-Agent, smolagents, LangGraph and LlamaIndex on the same GGUF. The peers
# extra is explicit; LlamaIndex's OpenAI client pins openai<3, so it is installed without deps.
bench-peers: install
	$(BIN)/python -m pip install -c constraints.txt -e ".[$(EXTRAS),peers]"
	$(BIN)/python -m pip install --no-deps llama-index-llms-openai==0.8.3 llama-index-llms-openai-like==0.8.1
	$(BIN)/kapibara models pull qwen2.5-coder-0.5b
	$(BIN)/kapibara models pull qwen2.5-coder-1.5b
	$(BIN)/python bench/peers.py

# SIGKILL durability on SQLite and PostgreSQL, bad input everywhere, the server fuzzed and
# under load with faults, prompt injection on the real model.
bench-reliability: install postgres-bin
	$(BIN)/python bench/reliability.py
