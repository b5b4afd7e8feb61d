"""LoRA training of the bundled model on the agent's own samples, on CPU (GPU when present).

    from kapibara.finetune.lora import TrainConfig, train
    result = train(TrainConfig(data="train.jsonl", out="runs/demo"))   # runs/demo/adapter

What it does, and why:

- **The base weights come from the bundled GGUF**: transformers dequantises it (nothing
  is downloaded) and the dequantised model is kept under ``KAPIBARA_HOME/hf/`` so later
  runs load it in seconds instead of minutes.
- **Samples are rendered as the agent sends them** (``kapibara.finetune.frame``), and
  ``kapibara.finetune.parity`` checks the tokens against llama.cpp's before training.
- **Loss on the assistant's target turn only.** The shared system turn (role and tool
  signatures, identical for every sample of a language) is run once per step without
  gradients and its keys/values are shared by the whole batch; only the conversation and
  the target carry gradients. On 2 cores this is most of the speed: the shared part is
  ~70% of every sample's tokens. The price is that LoRA weights get no gradient through
  the system turn's keys/values (they still shape them in the forward pass), a common
  truncation that the evaluation after training measures.
- **Checkpoints** every ``checkpoint_every`` steps (adapter, optimiser, schedule, step);
  ``resume=True`` continues from the last one with the same data and settings.
- Progress goes to a callback with step, loss and ETA; the CLI shows a bar.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kapibara.errors import ConfigError, DataError, require
from kapibara.fileio import write_atomic

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100


@dataclass
class TrainConfig:
    """One training run. The defaults are the CPU recipe for the 0.5B (see docs/finetune.md)."""

    data: str
    out: str
    base: str = "qwen2.5-coder-0.5b"
    toolset: str = "demo"
    profile: str = "compact"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    epochs: float = 1.0
    lr: float = 3e-4
    batch: int = 12
    warmup: int = 5
    max_samples: int | None = 420
    reply_share: float | None = 0.3
    focus: str | None = None
    """Take every sample whose source starts with this, then draw the rest (``pick_samples``)."""
    max_target_tokens: int = 160
    max_suffix_tokens: int = 384
    seed: int = 0
    checkpoint_every: int = 10
    device: str = "auto"
    threads: int | None = None
    init: str | None = None
    """Continue from an adapter (a peft folder, a run folder or a tuned model's name)
    instead of fresh LoRA weights: another pass on new data, same rank and modules."""

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha < 1:
            raise ConfigError("rank and alpha must be >= 1", hint="e.g. --rank 16 --alpha 32")
        if self.epochs <= 0 or self.batch < 1 or self.lr <= 0:
            raise ConfigError("epochs, batch and lr must be positive")
        unknown = set(self.targets) - set(DEFAULT_TARGETS)
        if unknown:
            raise ConfigError(f"unknown target modules {sorted(unknown)}", hint="use: " + ",".join(DEFAULT_TARGETS))

    def key(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed."""
        d = asdict(self)
        for k in ("out", "checkpoint_every", "device", "threads"):
            d.pop(k)
        d["targets"] = list(self.targets)
        return d


@dataclass
class Encoded:
    """One sample as token ids: the shared system turn's language, then the rest."""

    id: str
    language: str
    ids: list[int]          # tokens after the shared prefix
    labels: list[int]       # IGNORE except on the target turn


@dataclass
class TrainResult:
    out: Path
    adapter: Path
    samples: int
    steps: int
    epochs: float
    wall_s: float
    tokens: int
    target_tokens: int
    tokens_per_s: float
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"], d["adapter"] = str(self.out), str(self.adapter)
        return d


Progress = Callable[[int, int, float, float], None]
"""Called after each step with (step, total steps, loss, seconds left)."""


def _torch() -> Any:
    return require("torch", "torch==2.13.0", "train")


def pick_device(device: str = "auto") -> str:
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda but no GPU is visible to torch", hint="use --device auto")
    return device


def encode(samples: list[Any], frame: Any, tokenizer: Any, prefixes: dict[str, list[int]],
           max_target: int, max_suffix: int) -> tuple[list[Encoded], int]:
    """Token ids and labels for each sample; returns those kept and how many were too long."""
    out: list[Encoded] = []
    dropped = 0
    for s in samples:
        lang = frame.language(s)
        prompt, target = frame.render(s)
        p_ids = tokenizer.encode(prompt, add_special_tokens=False)
        full = tokenizer.encode(prompt + target, add_special_tokens=False)
        prefix = prefixes[lang]
        if full[: len(p_ids)] != p_ids or p_ids[: len(prefix)] != prefix:
            raise DataError(f"sample {s.id}: tokens of the prompt change when the target is appended",
                            hint="run `kapibara finetune check` to see where")
        t_len = len(full) - len(p_ids)
        rest = full[len(prefix):]
        if t_len > max_target or len(rest) > max_suffix:
            dropped += 1
            continue
        labels = [IGNORE] * (len(p_ids) - len(prefix)) + full[len(p_ids):]
        out.append(Encoded(id=s.id, language=lang, ids=rest, labels=labels))
    return out, dropped


def batches(encoded: list[Encoded], batch: int, rng: random.Random) -> list[list[Encoded]]:
    """Batches of one language each, of similar lengths (little padding), in random order."""
    out: list[list[Encoded]] = []
    for lang in sorted({e.language for e in encoded}):
        group = sorted((e for e in encoded if e.language == lang), key=lambda e: (len(e.ids), rng.random()))
        out.extend(group[i:i + batch] for i in range(0, len(group), batch))
    rng.shuffle(out)
    return out


class Trainer:
    """The model, the shared prefixes and one optimisation step."""

    def __init__(self, model: Any, prefixes: dict[str, list[int]], pad_id: int, device: str) -> None:
        self.torch = _torch()
        self.model = model
        self.prefixes = prefixes
        self.pad_id = pad_id
        self.device = device

    def _decoder(self) -> tuple[Any, Any]:
        inner = self.model.get_base_model()  # the causal LM, LoRA layers injected
        return inner.model, inner.lm_head

    def prefix_cache(self, language: str, size: int) -> Any:
        """The shared system turn's keys/values under the current weights, for ``size`` rows."""
        from transformers import DynamicCache

        torch = self.torch
        decoder, _ = self._decoder()
        ids = torch.tensor([self.prefixes[language]], device=self.device)
        with torch.no_grad():
            out = decoder(input_ids=ids, use_cache=True)
        layers = out.past_key_values.layers
        return DynamicCache(ddp_cache_data=[
            (layer.keys.expand(size, -1, -1, -1).contiguous(), layer.values.expand(size, -1, -1, -1).contiguous())
            for layer in layers])

    def loss(self, batch: list[Encoded]) -> tuple[Any, int]:
        """Mean cross-entropy over the batch's target tokens, and how many there were."""
        torch = self.torch
        width = max(len(e.ids) for e in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        for i, e in enumerate(batch):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            labels[i, : len(e.labels)] = torch.tensor(e.labels)
        ids, labels = ids.to(self.device), labels.to(self.device)
        cache = self.prefix_cache(batch[0].language, len(batch))
        decoder, head = self._decoder()
        # Right padding needs no mask: causal attention never lets a real token see a pad.
        hidden = decoder(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state
        # Position t predicts token t+1; the head runs only where there is a target token
        # (the 151k-word projection of every context token would cost a quarter of the step).
        nxt = labels[:, 1:]
        where = nxt != IGNORE
        logits = head(hidden[:, :-1][where])
        n = int(where.sum())
        return torch.nn.functional.cross_entropy(logits.float(), nxt[where]), n


def load_base(name: str, device: str = "cpu") -> tuple[Any, Any]:
    """The base model and tokenizer from the bundled GGUF, dequantised once and cached."""
    from kapibara.finetune.base import load_hf_base

    return load_hf_base(name, device=device)


def train(config: TrainConfig, *, resume: bool = False, progress: Progress | None = None,
          log: Callable[[str], None] | None = None, base: tuple[Any, Any] | None = None,
          template: Any = None) -> TrainResult:
    """Train a LoRA adapter; write ``out/adapter`` (peft folder) and ``out/train.json``.

    ``base`` is ``(model, tokenizer)`` to train instead of the bundled model's (tests use
    a tiny one); ``template`` the chat template to render with (default: the base GGUF's).
    """
    from kapibara.finetune.frame import agent_frame, gguf_template
    from kapibara.finetune.samples import load_samples, pick_samples
    from kapibara.models.bundled import model_path

    torch = _torch()
    peft = require("peft", "peft", "train")
    say = log or (lambda _m: None)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint"
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)

    samples = load_samples(config.data)
    if not samples:
        raise DataError(f"{config.data} holds no samples", hint="build some with `kapibara data build`")
    samples = pick_samples(samples, config.max_samples, rng, config.reply_share, config.focus)

    if base is None:
        say(f"loading {config.base} (dequantised from its GGUF)")
    model, tokenizer = base if base is not None else load_base(config.base, device=device)
    frame = agent_frame(config.toolset, profile=config.profile,
                        template=template if template is not None else gguf_template(model_path(config.base)))
    prefixes = {lang: tokenizer.encode(frame.prefix(lang), add_special_tokens=False) for lang in frame.system}
    encoded, dropped = encode(samples, frame, tokenizer, prefixes, config.max_target_tokens, config.max_suffix_tokens)
    if not encoded:
        raise DataError("no sample fits the token limits", hint="raise --max-target-tokens")
    say(f"{len(encoded)} samples ({dropped} too long, left out); shared prefix "
        + ", ".join(f"{k}: {len(v)} tokens" for k, v in prefixes.items()))

    lora = peft.LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                           target_modules=list(config.targets), task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, lora)
    if config.init:
        start_from = init_adapter(config.init)
        _check_init(start_from, config)
        peft.set_peft_model_state_dict(model, _load_tensors(start_from / "adapter_model.safetensors"))
        say(f"starting from the adapter in {start_from}")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    per_epoch = math.ceil(len(encoded) / config.batch)
    total = max(1, math.ceil(per_epoch * config.epochs))

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10%
        if step < config.warmup:
            return (step + 1) / config.warmup
        t = (step - config.warmup) / max(1, total - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    plan: list[list[Encoded]] = []
    epoch_rng = random.Random(config.seed)
    while len(plan) < total:
        plan.extend(batches(encoded, config.batch, epoch_rng))
    plan = plan[:total]

    step, losses, tokens, target_tokens, elapsed = 0, [], 0, 0, 0.0
    if resume and (ckpt / "state.json").exists():
        state = json.loads((ckpt / "state.json").read_text())
        if state.get("key") != json.loads(json.dumps(config.key())):
            raise ConfigError(f"{ckpt} was written with other settings or data",
                              hint="use the same options, or a new --out")
        peft.set_peft_model_state_dict(model, _load_tensors(ckpt / "adapter.safetensors"))
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        sched.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        step, losses, tokens = state["step"], state["losses"], state["tokens"]
        target_tokens, elapsed = state["target_tokens"], state["wall_s"]
        say(f"resumed at step {step}/{total}")

    trainer = Trainer(model, prefixes, tokenizer.pad_token_id or 0, device)
    start = time.perf_counter() - elapsed
    while step < total:
        batch = plan[step]
        loss, n = trainer.loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(round(loss.item(), 4))
        tokens += sum(len(e.ids) for e in batch) + len(prefixes[batch[0].language])
        target_tokens += n
        spent = time.perf_counter() - start
        if progress is not None:
            progress(step, total, losses[-1], spent / step * (total - step))
        if step % config.checkpoint_every == 0 or step == total:
            _checkpoint(ckpt, model, opt, sched, peft, {
                "key": config.key(), "step": step, "losses": losses, "tokens": tokens,
                "target_tokens": target_tokens, "wall_s": spent})

    wall = time.perf_counter() - start
    adapter = out / "adapter"
    model.save_pretrained(str(adapter))
    result = TrainResult(out=out, adapter=adapter, samples=len(encoded), steps=total, epochs=config.epochs,
                         wall_s=round(wall, 1), tokens=tokens, target_tokens=target_tokens,
                         tokens_per_s=round(tokens / wall, 1) if wall else 0.0, losses=losses, device=device)
    write_atomic(out / "train.json", json.dumps({"config": config.key(), "result": result.to_dict(),
                                                  "dropped_too_long": dropped}, ensure_ascii=False, indent=2))
    return result


def run_metadata(run: str | Path) -> dict[str, Any]:
    """What a tuned model's registry record keeps from its training run: the prompt
    profile it was trained with, the tools it learned, the training figures. Empty when
    ``run`` is a bare adapter folder."""
    info = Path(run) / "train.json"
    if not info.is_file():
        return {}
    data = json.loads(info.read_text(encoding="utf-8"))
    config = data.get("config", {})
    from kapibara.toolsets import toolset_entry

    tools = [s["function"]["name"] for s in toolset_entry(config.get("toolset", "demo")).specs()]
    return {"profile": config.get("profile", "default"), "tools": tools, "train": data.get("result", {})}


def init_adapter(spec: str) -> Path:
    """The peft folder to continue from: ``spec`` is one, a run folder holding ``adapter/``,
    or the name of a registered tuned model."""
    path = Path(spec)
    for folder in (path, path / "adapter"):
        if (folder / "adapter_model.safetensors").is_file():
            return folder
    from kapibara.models import tuned

    if tuned.exists(spec):
        peft_dir = tuned.get(spec).peft_dir
        if peft_dir is not None and (peft_dir / "adapter_model.safetensors").is_file():
            return peft_dir
    raise ConfigError(f"no adapter to start from at {spec!r}",
                      hint="give a peft folder, a training run folder, or a tuned model's name (kapibara models list)")


def _check_init(folder: Path, config: TrainConfig) -> None:
    """The adapter continued must have this run's rank, alpha and modules."""
    try:
        saved = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{folder}/adapter_config.json cannot be read: {exc}") from None
    have = (saved.get("r"), saved.get("lora_alpha"), sorted(saved.get("target_modules") or []))
    want = (config.rank, config.alpha, sorted(config.targets))
    if have != want:
        raise ConfigError(f"the adapter in {folder} has rank {have[0]}, alpha {have[1]}, modules {have[2]}; "
                          f"this run asks for rank {want[0]}, alpha {want[1]}, modules {want[2]}",
                          hint="use the adapter's --rank, --alpha and --targets")


def _load_tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return dict(load_file(str(path)))


def _checkpoint(ckpt: Path, model: Any, opt: Any, sched: Any, peft: Any, state: dict[str, Any]) -> None:
    """Adapter, optimiser and schedule first, the state file last (it marks a whole checkpoint)."""
    from safetensors.torch import save_file

    torch = _torch()
    ckpt.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in peft.get_peft_model_state_dict(model).items()}
    tmp = ckpt / "adapter.safetensors.tmp"
    save_file(weights, str(tmp))
    tmp.replace(ckpt / "adapter.safetensors")
    for name, obj in (("optimizer.pt", opt.state_dict()), ("scheduler.pt", sched.state_dict())):
        tmp = ckpt / (name + ".tmp")
        torch.save(obj, tmp)
        tmp.replace(ckpt / name)
    write_atomic(ckpt / "state.json", json.dumps(state))
