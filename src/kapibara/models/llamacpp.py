"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

    model = LlamaCppModel.from_name_or_path("qwen2.5-coder-0.5b", threads=2)
    done = model.chat([{"role": "user", "content": "你好"}], max_tokens=16)

Prompts are rendered with the GGUF's own chat template (tools included, as the model was
trained to see them) and generated with the low-level token API on the rendered prompt,
so an identical prefix gives identical tokens and llama.cpp reuses their KV cache across
calls. ``save_prefix`` writes the prefilled KV state of a fixed prefix (system prompt +
tools) to ``$KAPIBARA_HOME/prefix-cache/``; any later process whose prompt starts with
those tokens loads it instead of prefilling them again.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.errors import BackendError, ModelNotFoundError, require
from kapibara.models import kvstate, tool_text, tuned
from kapibara.models.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Constraint,
    Message,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
    opens_call,
)
from kapibara.models.bundled import BUNDLED
from kapibara.models.grammar_sampler import GreedyGrammarSampler
from kapibara.models.jump import continuation, schema_tools
from kapibara.models.jump import tool_table as jump_table
from kapibara.models.lookup import lookup_draft
from kapibara.models.quantize import runtime_path, split_quant
from kapibara.models.schema_grammar import schema_gbnf
from kapibara.models.toolcalls import parse_tool_calls
from kapibara.settings import kapibara_home

_TAGS = re.compile(r"(</?tool_call>)")


def _llama_cpp() -> Any:
    return require("llama_cpp", "llama-cpp-python", "llamacpp")


@dataclass
class _Shared:
    """One loaded llama.cpp model and what goes with it; shared by every LlamaCppModel
    on the same (path, n_ctx, threads) in a process, so agents share its KV cache."""

    llama: Any
    identity: str
    template: Any
    lock: threading.RLock = field(default_factory=threading.RLock)
    grammars: dict[tuple[str, str], Any] = field(default_factory=dict)
    call_starts: Any = None
    """Which token ids open a call (``call_start_mask``), built on first use."""
    system_seen: set[str] = field(default_factory=set)
    """Keys of system turns this process has prefilled (``remember_system``)."""
    system_states: OrderedDict[str, tuple[int, bytes]] = field(default_factory=OrderedDict)
    """Prefilled states of system turns met more than once, newest last."""


_SHARED: dict[tuple[str, int, int, str], _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _tojson(value: Any, indent: int | None = None) -> str:
    # Same as Hugging Face's chat-template filter: non-ASCII kept (Chinese stays readable
    # to the model), no HTML escaping.
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _compile_template(source: str) -> Any:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: time.strftime(fmt)
    return env.from_string(source)


def call_start_mask(pieces: list[str]) -> Any:
    """For each token's text, whether it opens a call (``opens_call``)."""
    return np.fromiter((opens_call(p) for p in pieces), dtype=bool, count=len(pieces))


def closed_json(text: str) -> bool:
    """Whether ``text`` is a whole JSON object: under a JSON grammar, nothing but spaces
    and the end token can follow it."""
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _load_shared(path: Path, n_ctx: int, threads: int, verbose: bool, lora_path: Path | None = None) -> _Shared:
    llama_cpp = _llama_cpp()
    try:
        llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=verbose,
            lora_path=str(lora_path) if lora_path else None,
        )
    except (ValueError, RuntimeError) as exc:
        what = f"{path} with the LoRA adapter {lora_path}" if lora_path else str(path)
        raise BackendError(
            f"llama.cpp could not load {what}: {exc}",
            hint="check that the adapter was exported for this base model" if lora_path
            else "check that the file is a GGUF model this llama-cpp-python version supports",
        ) from exc
    source = llama.metadata.get("tokenizer.chat_template")
    if not source:
        raise BackendError(
            f"{path} has no chat template (tokenizer.chat_template) in its metadata",
            hint="use an instruct/chat GGUF that carries its chat template",
        )
    salt = str(getattr(llama_cpp, "__version__", ""))
    if lora_path:
        # an adapter changes every KV entry: saved prefix states must not cross over
        salt += ":lora:" + kvstate.file_identity(lora_path)
    identity = kvstate.file_identity(path, salt=salt)
    return _Shared(llama=llama, identity=identity, template=_compile_template(source))


@dataclass
class _Drafts:
    """Prompt-lookup tokens of one call: drafted, and kept (the greedy picks matched them)."""

    tried: int = 0
    accepted: int = 0


def _normalise(messages: list[Message]) -> list[Message]:
    """Shape messages the way chat templates expect: string content, decoded arguments."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("content") is None:
            m["content"] = ""
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                c = dict(c)
                fn = dict(c.get("function") or {})
                if isinstance(fn.get("arguments"), str):
                    # An undecodable string stays as is: the template prints what the model wrote.
                    with contextlib.suppress(json.JSONDecodeError):
                        fn["arguments"] = json.loads(fn["arguments"] or "{}")
                c["function"] = fn
                calls.append(c)
            m["tool_calls"] = calls
        out.append(m)
    return out


class LlamaCppModel(ChatModel):
    """A GGUF chat model run in-process by llama.cpp. Implements ``kapibara.models.base.Model``
    and the ``CountsTokens`` and ``CachesPrefix`` capabilities."""

    supports_tools = True
    supports_grammar = True
    supports_json_schema = True
    can_stream = True
    fast_grammar = True
    """Greedy decoding under a grammar checks the top token alone first (``grammar_sampler``);
    False restores llama.cpp's check of every token at every step (same output, slower)."""
    write_prefix = True
    """Under the greedy fast path, a constraint's ``prefix`` is prefilled with the prompt in
    one batch and the grammar advanced past it, instead of decoding it token by token."""
    jump_forward = True
    """Greedy decoding with tools offered and no grammar: the text a call must go on with
    (``kapibara.models.jump``: the rest of a parameter's name and ``":``, the closing
    ``}}\n</tool_call>``) is evaluated in one batch with the next token, not decoded."""
    jump_grammar = True
    """The same under a call schema's grammar on the greedy fast path (routed calls, the
    ladder's constrained rungs), with the schema's own tools; there a tool name only one of
    them starts so is completed too (the grammar admits no other)."""
    remember_system = 4
    """How many system turns' prefilled states a loaded model keeps in memory (least
    recently used dropped first). A system turn prefilled a second time in a process (the
    KV cache held another one in between: an English question after Chinese ones, two
    agents on one model) is kept and loaded from memory the next time instead of prefilled
    again: the demo's English system turn is ~1,300 tokens, 7 s of prefill on 2 cores.
    0 turns it off. ``save_prefix`` is the same on disk, for later processes."""
    prompt_lookup = False
    """Greedy decoding without a grammar, while the output is a reply and not a call: the
    tokens that followed the last three tokens where they occurred before in the prompt or
    output (``kapibara.models.lookup``) are evaluated in one batch with the next token as a
    draft, and the run of them that matches the greedy picks is kept: several tokens for
    one ``llama_decode`` where a reply repeats the system prompt or a tool's result. Output
    as decoded token by token (up to the last bits of a batch's logits). Off by default:
    on 2 CPU cores a batch costs too much against one step for it to pay (the tuned 0.5B's
    whole turns 0.98-1.02x as long in two runs, the untuned 0.5B's 1.00x, the 1.5B's 1.09x:
    ``bench/prompt_lookup.py``, docs/models.md); where a batch of k tokens costs about one
    step (``bench/decode_costs.py`` measures it), turn it on."""
    draft_tokens = 6
    """The most tokens one prompt-lookup draft holds."""
    stop_at_close = True
    """Under a grammar, decoding stops once the output is a whole JSON object (only spaces
    and the end token could follow): one decoding step fewer per constrained call."""
    thread_safe = False  # one llama.cpp context decodes one request at a time (a lock serialises)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        name: str | None = None,
        verbose: bool = False,
        prefix_state_dir: str | os.PathLike[str] | None = None,
        shared: bool = True,
        lora_path: str | os.PathLike[str] | None = None,
        profile: str = "default",
    ) -> None:
        """Load (or reuse, when ``shared``) the model at ``path``.

        ``threads`` defaults to ``os.cpu_count()``; ``prefix_state_dir`` defaults to
        ``$KAPIBARA_HOME/prefix-cache``. ``shared=False`` loads a private copy with its
        own KV cache (for measuring a cold start inside one process). ``lora_path`` is a
        GGUF LoRA adapter applied on top (``kapibara.finetune.gguf.export_gguf_adapter``).
        ``profile`` is the prompt the model expects (``compact`` for a model tuned with
        one; ``kapibara.agent.profile``).
        """
        self.profile = profile
        self.tuned_tools: tuple[str, ...] = ()
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise ModelNotFoundError(f"model file {self.path} does not exist")
        self.lora_path = Path(lora_path).expanduser().resolve() if lora_path else None
        if self.lora_path is not None and not self.lora_path.is_file():
            raise ModelNotFoundError(f"LoRA adapter {self.lora_path} does not exist")
        self.n_ctx = n_ctx
        self.context_window = n_ctx
        self.threads = threads or os.cpu_count() or 1
        self.name = name or self.path.name
        self.prefix_state_dir = Path(prefix_state_dir) if prefix_state_dir else kapibara_home() / "prefix-cache"
        self.load_s = 0.0
        key = (str(self.path), n_ctx, self.threads, str(self.lora_path or ""))
        t0 = time.perf_counter()
        if not shared:
            self._shared = _load_shared(self.path, n_ctx, self.threads, verbose, self.lora_path)
        else:
            with _SHARED_LOCK:
                if key not in _SHARED:
                    _SHARED[key] = _load_shared(self.path, n_ctx, self.threads, verbose, self.lora_path)
                self._shared = _SHARED[key]
        self.load_s = time.perf_counter() - t0
        self.last_loaded_prefix: Path | None = None

    @classmethod
    def from_name_or_path(cls, target: str, **options: Any) -> LlamaCppModel:
        """A bundled model name (must be pulled; it runs from its CPU copy, ``NAME@q4_k_m``
        from the file as shipped: ``kapibara.models.quantize``), a tuned model's name (its
        merged GGUF, or its base with the LoRA adapter) or a path to any GGUF file."""
        bundled_name, quant = split_quant(target)
        if bundled_name in BUNDLED:
            return cls(runtime_path(bundled_name, quant), name=options.pop("name", target), **options)
        if tuned.exists(target):
            record = tuned.get(target)
            path, lora = record.load_files()
            options.setdefault("profile", str(record.metadata.get("profile") or "default"))
            model = cls(path, name=options.pop("name", target), lora_path=lora, **options)
            model.tuned_tools = tuple(record.metadata.get("tools") or ())
            return model
        candidate = Path(target).expanduser()
        if candidate.is_file():
            return cls(candidate, **options)
        names = [m.name for m in tuned.list_tuned() if isinstance(m, tuned.TunedModel)]
        raise ModelNotFoundError(
            f"unknown model {target!r} (not a bundled or tuned model name, not an existing file)",
            hint="known models: " + ", ".join([*BUNDLED, *names]) + "; or give a path to a .gguf file",
        )

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama`` (shared within the process)."""
        return self._shared.llama

    # -- prompts ---------------------------------------------------------------------

    def render(
        self, messages: list[Message], tools: list[ToolSpec] | None = None, *, add_generation_prompt: bool = True,
        tool_format: str | None = None,
    ) -> str:
        """The prompt text the model sees, from the GGUF's own chat template; with
        ``tool_format="signature"`` the tools as signatures where the template puts their
        JSON (``kapibara.models.tool_text``; a template it cannot splice keeps its JSON)."""
        llama = self.llama
        normalised = _normalise(messages)

        def with_tools(shown: list[ToolSpec] | None) -> str:
            return str(self._shared.template.render(
                messages=normalised,
                tools=shown or None,
                add_generation_prompt=add_generation_prompt,
                bos_token=llama._model.token_get_text(llama.token_bos()) if llama.token_bos() >= 0 else "",
                eos_token=llama._model.token_get_text(llama.token_eos()),
            ))

        if tools and tool_format == "signature":
            spliced = tool_text.splice(with_tools, tools)
            if spliced is not None:
                return spliced
        return with_tools(tools)

    def tokenize(self, text: str) -> list[int]:
        """Tokens of rendered prompt text (special tokens such as ``<|im_start|>`` parsed)."""
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    # -- prefix state on disk --------------------------------------------------------

    def _state_files(self) -> list[tuple[int, str, Path]]:
        return kvstate.state_files(self.prefix_state_dir, self._shared.identity, self.n_ctx)

    def _prefill(self, tokens: list[int]) -> int:
        """Make the KV cache hold ``tokens``; returns how many were already there."""
        llama = self.llama
        self._maybe_load_prefix(tokens)
        keep = kvstate.reusable(llama.input_ids[: llama.n_tokens], tokens, not llama._requires_eval)
        llama.n_tokens = keep
        if keep < len(tokens):
            llama.eval(tokens[keep:])
        return keep

    def save_prefix(self, prefix: str | list[Message], tools: list[ToolSpec] | None = None,
                    tool_format: str | None = None) -> Path:
        """Prefill a fixed prompt prefix and save its KV state for later processes.

        ``prefix`` is rendered text or messages (typically the system message; rendered
        with ``tools`` and no generation prompt). Returns the state file. A later call in
        any process on the same model file and ``n_ctx`` whose prompt starts with these
        tokens loads the state instead of prefilling them.
        """
        text = prefix if isinstance(prefix, str) else self.render(prefix, tools, add_generation_prompt=False,
                                                                  tool_format=tool_format)
        tokens = self.tokenize(text)
        if len(tokens) >= self.n_ctx:
            raise BackendError(f"prefix of {len(tokens)} tokens does not fit n_ctx={self.n_ctx}")
        with self._shared.lock:
            self._prefill(tokens)
            data = self._get_state()
        return kvstate.write_state(self.prefix_state_dir, self._shared.identity, self.n_ctx, tokens,
                                   data, self.path.name)

    def ensure_prefix(self, prefix: str | list[Message], tools: list[ToolSpec] | None = None,
                      tool_format: str | None = None) -> Path:
        """``save_prefix`` unless a state for exactly this prefix is already saved."""
        text = prefix if isinstance(prefix, str) else self.render(prefix, tools, add_generation_prompt=False,
                                                                  tool_format=tool_format)
        found = kvstate.find_state(self.prefix_state_dir, self._shared.identity, self.n_ctx, self.tokenize(text))
        return found or self.save_prefix(text)

    def _maybe_load_prefix(self, tokens: list[int]) -> None:
        """Load the longest saved prefix state that beats what the KV cache already holds."""
        llama = self.llama
        have = kvstate.common_prefix(llama.input_ids[: llama.n_tokens], tokens)
        for n, key, path in self._state_files():
            if n <= have or n >= len(tokens):
                continue
            if kvstate.tokens_key(self._shared.identity, self.n_ctx, tokens[:n]) != key:
                continue
            if self._load_state_file(path, tokens[:n]):
                self.last_loaded_prefix = path
                return

    def _load_state_file(self, path: Path, tokens: list[int]) -> bool:
        data = kvstate.read_state(path, tokens)
        return data is not None and self._set_state(data, tokens)

    def _system_end(self, tokens: list[int]) -> int:
        """Where the prompt's first turn (the system turn: prompt, examples, tools) ends:
        just after its end-of-turn token; 0 when there is none before the last token."""
        llama_cpp = _llama_cpp()
        vocab = self.llama._model.vocab
        for i in range(1, len(tokens) - 1):
            if llama_cpp.llama_vocab_is_eog(vocab, tokens[i]):
                return i + 1
        return 0

    def _remember_system(self, tokens: list[int], cached: int) -> None:
        """Prefill the system turn on its own and keep its state when this process has
        prefilled the same turn before (``remember_system``)."""
        if self.remember_system <= 0:
            return
        end = self._system_end(tokens)
        if end < 32 or cached >= end:
            return
        shared = self._shared
        key = kvstate.tokens_key(shared.identity, self.n_ctx, tokens[:end])
        if key not in shared.system_seen:
            shared.system_seen.add(key)  # the first time: no state kept (one-off tool sets)
            return
        self._prefill(tokens[:end])
        shared.system_states[key] = (end, self._get_state())
        while len(shared.system_states) > self.remember_system:
            shared.system_states.popitem(last=False)

    def _maybe_restore_system(self, tokens: list[int]) -> None:
        """Load a remembered system turn this prompt starts with, when the KV cache holds less."""
        shared = self._shared
        if not shared.system_states or self.remember_system <= 0:
            return
        llama = self.llama
        have = kvstate.common_prefix(llama.input_ids[: llama.n_tokens], tokens)
        for key, (n, data) in list(shared.system_states.items()):
            if have < n < len(tokens) and kvstate.tokens_key(shared.identity, self.n_ctx, tokens[:n]) == key \
                    and self._set_state(data, tokens[:n]):
                shared.system_states.move_to_end(key)
                return

    def _get_state(self) -> bytes:
        """The KV state of sequence 0 as it is now."""
        llama_cpp = _llama_cpp()
        ctx = self.llama.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        if n == 0:
            raise BackendError("llama.cpp returned an empty KV state")
        return bytes(buf)[:n]

    def _set_state(self, data: bytes, tokens: list[int]) -> bool:
        """Load a state of exactly ``tokens`` into the KV cache."""
        llama_cpp = _llama_cpp()
        llama = self.llama
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        llama.reset()
        if llama_cpp.llama_state_seq_set_data(llama.ctx, buf, len(data), 0) != len(data):
            return False
        n = len(tokens)
        llama.input_ids[:n] = np.asarray(tokens, dtype=np.intc)
        llama.n_tokens = n
        # Restored state has no logits: llama-cpp-python must decode before sampling,
        # exactly as Llama.load_state() marks it.
        llama._requires_eval = True
        return True

    # -- generation ------------------------------------------------------------------

    def _grammar(self, constraint: Constraint | None) -> Any:
        if constraint is None or (constraint.grammar is None and constraint.json_schema is None):
            return None
        llama_cpp = _llama_cpp()
        if constraint.grammar is not None:
            key = ("gbnf", constraint.grammar)
        else:
            # Declared key order, never sorted: llama.cpp's grammar emits properties in
            # schema order, and optional ones may only be skipped forwards. Sorted keys put
            # ``arguments`` before ``name`` and ``scenario`` after ``max_price``, so a model
            # that filled ``scenario`` could no longer give a budget.
            key = ("schema", json.dumps(constraint.json_schema, ensure_ascii=False))
        cache = self._shared.grammars
        if key not in cache:
            try:
                if key[0] == "gbnf":
                    cache[key] = llama_cpp.LlamaGrammar.from_string(key[1], verbose=False)
                else:  # llama-cpp-python's converter, plus digits bounded by a number's maximum
                    cache[key] = llama_cpp.LlamaGrammar.from_string(schema_gbnf(constraint.json_schema or {}),
                                                                    verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"invalid {key[0]} constraint: {exc}") from exc
        return cache[key]

    def complete(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """One request: TextDelta events as tokens are decoded, then the Completion."""
        return self._run(request)

    def _run(self, request: ChatRequest) -> Iterator[StreamEvent]:
        messages, tools, sampling = request.messages, request.tools, request.sampling
        stop, max_tokens, watch = request.stop or [], request.max_tokens, request.watch
        t0 = time.perf_counter()
        tokens = self.tokenize(self.render(messages, tools, tool_format=request.tool_format))
        room = self.n_ctx - len(tokens)
        if room <= 0:
            raise BackendError(
                f"prompt of {len(tokens)} tokens does not fit the context window ({self.n_ctx})",
                hint="shorten the conversation or load the model with a larger n_ctx",
            )
        limit = min(max_tokens, room) if max_tokens else room
        grammar = self._grammar(request.constraint)
        llama_cpp = _llama_cpp()
        llama = self.llama
        vocab = llama._model.vocab
        hold = max((len(s) for s in stop), default=1) - 1
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text, emitted, out_tokens, finish, cut = "", 0, 0, "length", False
        jumped = 0
        ttft = 0.0
        with self._shared.lock:
            self._maybe_load_prefix(tokens)
            self._maybe_restore_system(tokens)
            # What llama.generate below keeps of the KV cache (the same rule as _prefill).
            cached = kvstate.reusable(llama.input_ids[: llama.n_tokens], tokens, not llama._requires_eval)
            self._remember_system(tokens, cached)
            if sampling.seed is not None:
                llama.set_seed(sampling.seed)
            fast: GreedyGrammarSampler | None = None
            forced: list[int] = []
            if grammar is not None and self.fast_grammar and sampling.temperature == 0 \
                    and sampling.repeat_penalty == 1.0:
                # Greedy under a grammar: the top token is checked alone first
                # (grammar_sampler.py); Llama.generate builds its sampler through
                # _init_sampler, so this one call gets ours.
                fast = GreedyGrammarSampler(llama_cpp, llama._model, grammar)
                forced, fast = self._force_prefix(request.constraint, fast, grammar, room)
                if forced:
                    text = request.constraint.prefix if request.constraint is not None else ""
                llama._init_sampler = lambda **_: fast
            jump = jump_table(tools) if tools and grammar is None and self.jump_forward \
                and sampling.temperature == 0 and sampling.repeat_penalty == 1.0 else None
            if fast is not None and self.jump_grammar and request.constraint is not None:
                # Under a call schema's grammar the schema's own tools say what is fixed,
                # and a tool name can be completed: the grammar admits no other.
                jump = jump_table(schema_tools(request.constraint.json_schema)) or None
            gen: Generator[int, list[int] | None, None]
            drafts = _Drafts()
            lookup = grammar is None and sampling.temperature == 0 and sampling.repeat_penalty == 1.0 \
                and self.prompt_lookup and self.draft_tokens > 0
            tags = set(self.tokenize_text("<tool_call>")) if lookup else set()
            called = False

            def may_draft() -> bool:
                # a reply's text, not a call: calls copy short values that a draft misses
                # (bench/results/prompt_lookup_*.md)
                return not called and not opens_call(text)

            if jump or lookup:
                gen = self._greedy(tokens + forced, fast, drafts, may_draft if lookup else None)
            else:
                gen = llama.generate(
                    tokens + forced,
                    top_k=sampling.top_k,
                    top_p=sampling.top_p,
                    min_p=0.0,
                    temp=sampling.temperature,
                    repeat_penalty=sampling.repeat_penalty,
                    grammar=None if fast is not None else grammar,
                )
            call_probability = None
            written: list[int] | None = None
            try:
                while True:
                    try:
                        tok = gen.send(written)
                    except StopIteration:
                        break
                    written = None
                    called = called or tok in tags
                    if not ttft:
                        ttft = time.perf_counter() - t0
                        if grammar is None and tools and request.call_probability:
                            # The first token's distribution is still in the context:
                            # the generator evaluates a token only when asked for the next.
                            call_probability = self._call_probability(llama_cpp, llama)
                    if llama_cpp.llama_vocab_is_eog(vocab, tok):
                        finish = "stop"
                        break
                    out_tokens += 1
                    piece = decoder.decode(llama.detokenize([tok], special=False))
                    if jump and not decoder.getstate()[0]:
                        more = continuation(text + piece, jump, names=fast is not None)
                        ids = self.tokenize_text(more) if more else []
                        if ids and out_tokens + len(ids) <= limit:
                            if fast is not None and (n := fast.accept_prefix(ids)) < len(ids):
                                # Never expected (the grammar is the schema's): what it
                                # admits of the text is written, the rest decoded.
                                ids = ids[:n]
                                more = llama.detokenize(ids, special=False).decode("utf-8", errors="replace")
                            if ids:
                                piece += more
                                written = self._retokenized(tok, more) or [tok, *ids]
                                out_tokens += len(ids)
                                jumped += len(ids)
                    text += piece
                    if grammar is not None and self.stop_at_close and piece.rstrip().endswith("}") \
                            and closed_json(text):
                        # The grammar allows only spaces and the end after this: stop
                        # instead of decoding one more step to read the end token.
                        finish = "stop"
                        break
                    hit = next((s for s in stop if s and s in text), None)
                    if hit is not None:
                        text, finish, cut = text[: text.index(hit)], "stop", True
                    safe = len(text) if hit is not None else max(emitted, len(text) - hold)
                    if safe > emitted:
                        yield TextDelta(text[emitted:safe])
                        emitted = safe
                    if hit is not None or out_tokens >= limit:
                        break
                    reason = watch(text) if watch is not None else None
                    if reason:
                        finish = reason
                        break
            except RuntimeError as exc:  # llama_decode failures (e.g. out of KV cells)
                raise BackendError(f"llama.cpp failed while generating: {exc}") from exc
            finally:
                gen.close()
                if fast is not None:
                    del llama._init_sampler  # back to the class's method
                    llama._sampler = None
                    fast.close()
        if not cut:
            text += decoder.decode(b"", final=True)
        if len(text) > emitted:
            yield TextDelta(text[emitted:])
        total = time.perf_counter() - t0
        decode_s = total - ttft
        usage = Usage(
            prompt_tokens=len(tokens) + len(forced),
            cached_prompt_tokens=cached,
            completion_tokens=out_tokens,
            forced_tokens=jumped,
            drafted_tokens=drafts.tried,
            accepted_tokens=drafts.accepted,
            ttft_s=ttft,
            total_s=total,
            prefill_tps=(len(tokens) - cached) / ttft if ttft else 0.0,
            decode_tps=(out_tokens - 1) / decode_s if out_tokens > 1 and decode_s > 0 else 0.0,
        )
        completion = self._completion(text, tools, finish, usage)
        completion.call_probability = call_probability
        yield completion

    def _greedy(self, tokens: list[int], sampler: GreedyGrammarSampler | None = None,
                drafts: _Drafts | None = None, may_draft: Callable[[], bool] | None = None
                ) -> Generator[int, list[int] | None, None]:
        """Greedy tokens after the prompt ``tokens``, as ``Llama.generate`` gives them at
        temperature 0, except that ``send(ids)`` gives the tokens to evaluate in place of
        the one just given: that token's text and the text written after it (tokenized as
        one text, ``_retokenized``), evaluated in one batch, the next token following them
        (``Llama.generate``'s own ``send`` treats such tokens as a draft to verify, which
        needs the logits of every position). With a ``sampler`` each token is its greedy
        pick under its grammar (the caller advances the grammar past written text).

        Where ``may_draft()`` says so (never with a ``sampler``: a draft would advance the
        grammar past tokens then dropped), a step after the prompt's evaluates a draft
        copied from the context (``kapibara.models.lookup``) in the same batch, keeping the
        logits of each drafted position: the drafted tokens that match the greedy picks
        are given one after the other without a decode each, the first pick that differs
        follows them, and the rest of the draft leaves the KV cache. A ``send`` on a
        drafted token drops what was evaluated after it. ``drafts`` counts the tokens
        drafted and kept."""
        llama = self.llama
        llama_cpp = _llama_cpp()
        keep = kvstate.reusable(llama.input_ids[: llama.n_tokens], tokens, not llama._requires_eval)
        llama.n_tokens = keep
        seq = list(tokens)  # what the model has read or will read next: the lookup's context
        pending = seq[keep:]
        n_vocab = llama.n_vocab()
        first = True

        def pick(idx: int) -> int:
            if sampler is not None:
                return sampler.sample(llama._ctx, idx)
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, idx), shape=(n_vocab,))
            return int(np.argmax(logits))

        while len(pending) <= self.n_ctx - llama.n_tokens:
            room = min(self.n_ctx - llama.n_tokens, llama.n_batch) - len(pending)
            draft: list[int] = []
            if not first and room > 0 and may_draft is not None and may_draft():
                # Not with the prompt: its first token's logits must be the last evaluated
                # (call_probability reads them), and a turn's prefill is long already.
                draft = lookup_draft(seq, min(self.draft_tokens, room))
            first = False
            if draft:
                self._decode_keeping(pending + draft, len(pending) - 1)
                out: list[int] = []
                for i in range(len(draft) + 1):
                    out.append(pick(len(pending) - 1 + i))
                    if i == len(draft) or out[-1] != draft[i]:
                        break
                if drafts is not None:
                    drafts.tried += len(draft)
                    drafts.accepted += len(out) - 1
                self._drop_after(len(seq) + len(out) - 1)
            else:
                if pending:
                    llama.eval(pending)
                out = [pick(-1)]
            start = len(seq)
            for j, token in enumerate(out):
                seq.append(token)
                replaced = yield token
                if replaced:
                    # ``token`` (at start + j) is replaced: what was evaluated from there goes
                    self._drop_after(start + j)
                    del seq[start + j:]
                    seq += replaced
                    pending = list(replaced)
                    break
            else:
                pending = [out[-1]]

    def _decode_keeping(self, batch: list[int], first_logits: int) -> None:
        """Evaluate ``batch`` after the cache in one ``llama_decode``, keeping the logits of
        its positions from ``first_logits`` on (``llama_get_logits_ith(ctx, i)``, i the
        position in the batch); ``Llama.eval`` keeps the last position's only."""
        llama = self.llama
        n_past = llama.n_tokens
        llama._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llama._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)
        for i in range(first_logits, len(batch)):
            llama._batch.batch.logits[i] = True
        llama._ctx.decode(llama._batch)
        llama.input_ids[n_past:n_past + len(batch)] = batch
        llama.n_tokens = n_past + len(batch)
        llama._requires_eval = False

    def _drop_after(self, n: int) -> None:
        """Keep the first ``n`` evaluated tokens in the KV cache and drop the rest; the
        last logits then belong to no kept position, so a prompt that ends there is
        evaluated again (``_requires_eval``)."""
        llama = self.llama
        if llama.n_tokens > n:
            llama._ctx.kv_cache_seq_rm(-1, n, -1)
            llama.n_tokens = n
            llama._requires_eval = True

    def _retokenized(self, token: int, more: str) -> list[int] | None:
        """The tokens of ``token``'s text followed by ``more``, tokenized as one text (what
        the tokenizer makes of a call written whole: ``"city": "`` is not ``"ci`` + ``ty":
        "``), so the model reads its input split as its tokenizer splits text, as in the
        prompt and in training. None when the token is no whole text of its own (part of a
        character's bytes)."""
        try:
            own = self.llama.detokenize([token], special=True).decode("utf-8")
        except UnicodeDecodeError:
            return None
        ids = self.tokenize_text(own + more)
        return ids or None

    def tokenize_text(self, text: str) -> list[int]:
        """Tokens of output text written for the model: no BOS, and no special token but
        the call tags (a tool's enum value that reads like ``<|im_end|>`` stays text)."""
        llama = self.llama
        out: list[int] = []
        for i, part in enumerate(_TAGS.split(text)):
            if part:
                out += llama.tokenize(part.encode("utf-8"), add_bos=False, special=i % 2 == 1)
        return out

    def _call_probability(self, llama_cpp: Any, llama: Any) -> float:
        """The softmax mass of the tokens that open a call, at the last evaluated position."""
        shared = self._shared
        if shared.call_starts is None:
            pieces = [llama.detokenize([i], special=True).decode("utf-8", errors="replace")
                      for i in range(llama.n_vocab())]
            shared.call_starts = call_start_mask(pieces)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1),
                                       shape=(llama.n_vocab(),)).astype(np.float64)
        p = np.exp(logits - logits.max())
        return float(p[shared.call_starts].sum() / p.sum())

    def _force_prefix(self, constraint: Constraint | None, sampler: GreedyGrammarSampler, grammar: Any,
                      room: int) -> tuple[list[int], GreedyGrammarSampler]:
        """The constraint's prefix as tokens the grammar has accepted (prefilled with the
        prompt, never decoded), and the sampler to decode the rest with. A prefix the
        grammar refuses leaves a fresh sampler and nothing forced: the whole output is
        decoded as usual."""
        prefix = constraint.prefix if constraint is not None else ""
        if not prefix or not self.write_prefix:
            return [], sampler
        tokens = list(self.llama.tokenize(prefix.encode("utf-8"), add_bos=False, special=False))
        if len(tokens) < room and sampler.accept_all(tokens):
            return tokens, sampler
        sampler.close()
        return [], GreedyGrammarSampler(_llama_cpp(), self.llama._model, grammar)

    def _completion(self, text: str, tools: list[ToolSpec] | None, finish: str, usage: Usage) -> Completion:
        if not tools:
            return Completion(text=text, content=text, finish_reason=finish, usage=usage, model=self.name)
        parsed = parse_tool_calls(text)
        return Completion(
            text=text,
            content=parsed.content if parsed.calls or parsed.error else text,
            tool_calls=parsed.calls,
            finish_reason="tool_calls" if parsed.calls else finish,
            usage=usage,
            parse_error=parsed.error,
            model=self.name,
        )


# -- the same rendering outside a loaded model (training renders samples with it) --------

normalise_messages = _normalise
compile_template = _compile_template


def read_chat_template(path: str | Path) -> str:
    """The chat template stored in a GGUF file (only the vocabulary is loaded)."""
    llama = _llama_cpp().Llama(model_path=str(path), vocab_only=True, verbose=False)
    source = llama.metadata.get("tokenizer.chat_template")
    if not source:
        raise BackendError(f"{path} has no chat template (tokenizer.chat_template) in its metadata",
                           hint="use an instruct/chat GGUF that carries its chat template")
    return str(source)
