"""Shared fixtures of the fine-tuning tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_qwen2() -> Callable[[Any], Any]:
    """Makes a fresh tiny random qwen2 (2 layers, hidden 32, MLP 64) for a tokenizer's
    vocabulary: the real model's shapes in miniature, so tests run in seconds."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")

    def make(tokenizer: Any) -> Any:
        config = transformers.Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                          max_position_embeddings=2048, tie_word_embeddings=True)
        torch.manual_seed(0)
        return transformers.Qwen2ForCausalLM(config)

    return make
