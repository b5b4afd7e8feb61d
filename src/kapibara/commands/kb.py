"""``kapibara kb ...``: ingest, search, ask (cited answers), stats, delete. Thin over kapibara.rag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kapibara.errors import ConfigError

if TYPE_CHECKING:
    from kapibara.rag.knowledge_base import KnowledgeBase, Mode

kb_app = typer.Typer(help="Knowledge bases: ingest documents, search, and answer with citations.", no_args_is_help=True)

KbOpt = Annotated[str, typer.Option("--kb", help="Knowledge base name (stored under $KAPIBARA_HOME/kb/NAME).")]
ModeOpt = Annotated[str, typer.Option("--mode", help="bm25 | dense | hybrid")]
DenseWeightOpt = Annotated[
    float, typer.Option("--dense-weight", help="Weight of the dense ranking in hybrid fusion (BM25 has 1).")
]


def _open(name: str, *, must_exist: bool = True, **kwargs: Any) -> KnowledgeBase:
    from kapibara.rag.knowledge_base import KnowledgeBase, kb_path

    if must_exist and not (kb_path(name) / "catalog.sqlite").exists():
        raise ConfigError(f"knowledge base {name!r} does not exist", hint=f"create it: kapibara kb ingest PATH --kb {name}")
    return KnowledgeBase.open(name, **kwargs)


def _mode(mode: str) -> Mode:
    if mode not in ("bm25", "dense", "hybrid"):
        raise ConfigError(f"unknown search mode {mode!r}", hint="use bm25, dense or hybrid")
    return mode  # type: ignore[return-value]


@kb_app.command("ingest")
def ingest_cmd(
    path: Annotated[Path, typer.Argument(help="A file or a folder of documents (txt, md, html, pdf, json, jsonl).")],
    kb: KbOpt = "default",
    chunk_size: Annotated[int, typer.Option(help="Chunk size in tokens.")] = 200,
    overlap: Annotated[int, typer.Option(help="Overlap between chunks in tokens.")] = 30,
    embedder: Annotated[str | None, typer.Option(help="use | st:/path | openai:MODEL@URL (first ingest only).")] = None,
    store: Annotated[str | None, typer.Option(help="Vector store: chroma://host:port/name (default: embedded).")] = None,
    pattern: Annotated[str, typer.Option(help="Only files matching this glob, e.g. '*.md'.")] = "*",
) -> None:
    """Ingest documents incrementally: unchanged files are skipped, bad files reported."""
    console = Console()
    if not path.exists():
        raise ConfigError(f"{path} does not exist", hint="give a file or a folder")
    base = _open(kb, must_exist=False, embedder=embedder, store=store, chunk_size=chunk_size, chunk_overlap=overlap)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task("reading files" if stage == "load" else "embedding chunks", total=total)
            bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        report = base.ingest(path, pattern=pattern, progress=progress)
    console.print(
        f"[green]{kb}[/]: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed, {len(report.skipped)} skipped; "
        f"{report.chunks_added} chunks ({report.duplicates_dropped} near-duplicates dropped) in {report.seconds:.1f}s"
    )
    for f, reason in report.skipped.items():
        console.print(f"  [yellow]skipped[/] {f}: {reason}", highlight=False)
    base.close()


@kb_app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    kb: KbOpt = "default",
    mode: ModeOpt = "hybrid",
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    dense_weight: DenseWeightOpt = 1.0,
) -> None:
    """Search a knowledge base and print the top chunks."""
    base = _open(kb)
    hits = base.search(query, k=k, mode=_mode(mode), weights=(1.0, dense_weight))
    console = Console()
    if as_json:
        for h in hits:
            typer.echo(json.dumps({"score": h.score, **h.chunk.to_dict()}, ensure_ascii=False))
    else:
        table = Table("#", "score", "source", "heading", "text")
        for n, h in enumerate(hits, 1):
            text = h.chunk.text.replace("\n", " ")
            table.add_row(str(n), f"{h.score:.3f}", Path(h.chunk.source).name, h.chunk.heading, text[:120])
        console.print(table)
    base.close()


@kb_app.command("ask")
def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question to answer from the knowledge base.")],
    kb: KbOpt = "default",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model spec (default: settings.model).")] = None,
    k: Annotated[int, typer.Option("-k", help="Chunks given to the model.")] = 4,
    mode: ModeOpt = "hybrid",
    rewrite: Annotated[bool, typer.Option(help="LLM query rewriting + RAG-Fusion.")] = False,
    rerank: Annotated[bool, typer.Option(help="LLM pointwise reranking of the top 10.")] = False,
    max_tokens: Annotated[int, typer.Option(help="Answer length limit.")] = 256,
    dense_weight: DenseWeightOpt = 1.0,
) -> None:
    """Answer a question with numbered citations to the knowledge base."""
    from kapibara.models.registry import load_configured
    from kapibara.rag.pipeline import RagPipeline
    from kapibara.rag.rerank import LLMReranker

    base = _open(kb)
    llm = load_configured(model)
    pipe = RagPipeline(
        base, llm, k=k, mode=_mode(mode), rewrite=rewrite, reranker=LLMReranker(llm) if rerank else None,
        max_tokens=max_tokens, weights=(1.0, dense_weight),
    )
    ans = pipe.answer(question)
    console = Console()
    console.print(ans.text, highlight=False)
    shown = ans.cited or ans.context.citations
    if shown:
        note = " (retrieved; the answer cited none)" if not ans.cited else ""
        note = " (markers added by word overlap; the model gave none)" if ans.attributed else note
        console.print("\n[bold]Sources[/]" + note)
    for c in shown:
        where = f" > {c.heading}" if c.heading else ""
        console.print(f"  [{c.number}] {c.source}{where} (chars {c.start}-{c.end})", highlight=False)
    base.close()


@kb_app.command("stats")
def stats_cmd(kb: KbOpt = "default") -> None:
    """Files, chunks, vectors, embedder, store and size on disk."""
    base = _open(kb)
    table = Table("field", "value", title=f"knowledge base {kb}")
    for key, val in base.stats().items():
        table.add_row(key, str(val))
    Console().print(table)
    base.close()


@kb_app.command("list")
def list_cmd() -> None:
    """Names of the knowledge bases under $KAPIBARA_HOME/kb/."""
    from kapibara.settings import kapibara_home

    root = kapibara_home() / "kb"
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if (p / "catalog.sqlite").exists():
            typer.echo(p.name)


@kb_app.command("delete")
def delete_cmd(
    kb: KbOpt = "default",
    source: Annotated[str | None, typer.Option(help="Remove only this ingested file (absolute path).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a whole knowledge base, or one source from it."""
    base = _open(kb)
    console = Console()
    if source:
        src = str(Path(source).resolve()) if Path(source).exists() else source
        if src not in base.sources():
            raise ConfigError(f"{source} is not in knowledge base {kb!r}", hint=f"see: kapibara kb stats --kb {kb}")
        n = base.delete_source(src)
        console.print(f"removed {src} ({n} chunks)", highlight=False)
        base.close()
        return
    if not yes and not typer.confirm(f"Delete knowledge base {kb!r} at {base.path}?"):
        raise typer.Abort()
    path = base.path
    base.close()
    shutil.rmtree(path)
    console.print(f"deleted knowledge base {kb}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``kb`` command group to the root CLI."""
    app.add_typer(kb_app, name="kb")
