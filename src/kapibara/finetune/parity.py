"""Template parity: the tokens trained on are the tokens llama.cpp will see.

Three renderings of each sample must give identical token ids:

1. the agent's rendering (GGUF chat template, as ``LlamaCppModel`` renders at inference),
   tokenised by llama.cpp;
2. the same text tokenised by the training tokenizer;
3. the training tokenizer's own chat template (``apply_chat_template`` with the tools).

A mismatch is an error that shows the first differing position, so it is fixed before a
training run wastes an hour on a prompt the model will never be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapibara.errors import DataError


@dataclass
class Mismatch:
    sample: str
    what: str
    position: int
    expected: str
    got: str

    def __str__(self) -> str:
        return (f"sample {self.sample}: {self.what} differ at token {self.position}: "
                f"expected …{self.expected!r}…, got …{self.got!r}…")


def first_difference(a: list[int], b: list[int]) -> int | None:
    """The first index where two id lists differ (the shorter length when one is a prefix)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _around(tokens: list[int], at: int, decode: Any) -> str:
    return str(decode(tokens[max(0, at - 4): at + 4]))


def check_parity(samples: list[Any], frame: Any, tokenizer: Any, llama_tokenize: Any,
                 limit: int | None = None) -> list[Mismatch]:
    """Every mismatch found in the first ``limit`` samples (all when None)."""
    from kapibara.models.llamacpp import normalise_messages

    found: list[Mismatch] = []
    for s in samples[:limit] if limit else samples:
        prompt, target = frame.render(s)
        text = prompt + target
        ours = llama_tokenize(text)
        hf = tokenizer.encode(text, add_special_tokens=False)
        at = first_difference(ours, hf)
        if at is not None:
            found.append(Mismatch(s.id, "llama.cpp and training tokenizer ids", at,
                                  _around(ours, at, tokenizer.decode), _around(hf, at, tokenizer.decode)))
            continue
        msgs = normalise_messages(frame.messages(s))
        if getattr(tokenizer, "chat_template", None):
            theirs = tokenizer.apply_chat_template(msgs, tools=frame.specs, tokenize=False)
            t_ids = tokenizer.encode(theirs, add_special_tokens=False)
            # the training template ends the last turn with "<|im_end|>\n"; the agent's target stops at the token
            at = first_difference(hf, t_ids[: len(hf)])
            if at is not None:
                found.append(Mismatch(s.id, "agent template and training tokenizer template ids", at,
                                      _around(hf, at, tokenizer.decode), _around(t_ids, at, tokenizer.decode)))
    return found


def require_parity(samples: list[Any], frame: Any, tokenizer: Any, llama_tokenize: Any,
                   limit: int | None = 50) -> int:
    """Raise ``DataError`` on the first mismatch; return how many samples were checked."""
    found = check_parity(samples, frame, tokenizer, llama_tokenize, limit)
    if found:
        raise DataError(f"template parity failed on {len(found)} sample(s); first: {found[0]}",
                        hint="the training template must render exactly what llama.cpp is sent")
    return len(samples[:limit] if limit else samples)


def llama_tokenizer(gguf_path: Any) -> Any:
    """llama.cpp's tokenizer of a GGUF file, as ``text -> ids`` (special tokens parsed)."""
    from kapibara.models.llamacpp import _llama_cpp

    llama = _llama_cpp().Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    return lambda text: llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
