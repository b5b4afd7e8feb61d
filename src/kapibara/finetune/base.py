"""The base model for training, taken from the bundled GGUF (nothing is downloaded).

transformers dequantises a GGUF file into a normal model (about 2.5 minutes for the 0.5B
on 2 cores); the result is saved once under ``KAPIBARA_HOME/hf/<gguf name>/`` in float32
(the dequantised values exactly, so training sees the weights llama.cpp computes with)
and later runs load that folder in seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kapibara.errors import require
from kapibara.settings import kapibara_home

DONE = ".complete"


def hf_cache_dir(gguf: Path) -> Path:
    return kapibara_home() / "hf" / gguf.stem


def load_hf_base(name: str, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a bundled model name or a GGUF path."""
    from kapibara.models.bundled import model_path

    torch = require("torch", "torch==2.13.0", "train")
    transformers = require("transformers", "transformers", "train")
    gguf = Path(name) if name.endswith(".gguf") else model_path(name)
    cache = hf_cache_dir(gguf)
    if (cache / DONE).exists():
        tok = transformers.AutoTokenizer.from_pretrained(str(cache))
        model = transformers.AutoModelForCausalLM.from_pretrained(str(cache), dtype=torch.float32)
    else:
        require("gguf", "gguf", "train")
        tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                                  dtype=torch.float32)
        # The weights are plain float32 now; the GGUF "quantizer" left on the model only
        # stops save_pretrained.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = cache.with_name(cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        (tmp / DONE).write_text(str(gguf))
        shutil.rmtree(cache, ignore_errors=True)
        tmp.replace(cache)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model.to(device), tok


def load_hf_tokenizer(name: str) -> Any:
    """The training tokenizer alone (converted from the GGUF once, then cached)."""
    from kapibara.models.bundled import model_path

    transformers = require("transformers", "transformers", "train")
    gguf = Path(name) if name.endswith(".gguf") else model_path(name)
    full = hf_cache_dir(gguf)
    if (full / DONE).exists():
        return transformers.AutoTokenizer.from_pretrained(str(full))
    cache = full.with_name(full.name + "-tokenizer")
    if not (cache / DONE).exists():
        require("gguf", "gguf", "train")
        tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tmp = cache.with_name(cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tok.save_pretrained(str(tmp))
        (tmp / DONE).write_text(str(gguf))
        shutil.rmtree(cache, ignore_errors=True)
        tmp.replace(cache)
    return transformers.AutoTokenizer.from_pretrained(str(cache))
