"""Turn files into ``Document``s: txt, Markdown, HTML (main text), PDF, JSON/JSONL records.

A file that cannot be loaded raises ``LoadError`` with a reason a user understands; the
ingest step records it and moves on, so one bad file never aborts a run.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from kapibara.errors import require
from kapibara.rag.types import Document

TEXT_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".rst": "txt"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED = set(TEXT_SUFFIXES) | HTML_SUFFIXES | {".pdf", ".json", ".jsonl"}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Fields of a JSON record that hold its text / title, tried in order.
TEXT_FIELDS = ("text", "content", "body", "answer", "abstract", "context", "passage")
TITLE_FIELDS = ("title", "name", "question", "heading")


class LoadError(Exception):
    """A file could not be loaded; ``str(exc)`` is the reason shown in the ingest report."""


def iter_files(path: Path, pattern: str = "*") -> list[Path]:
    """Files under ``path`` matching ``pattern`` (or ``path`` itself), sorted; hidden files
    and folders skipped."""
    if path.is_file():
        return [path]
    out = []
    for p in sorted(path.rglob(pattern)):
        rel = p.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        out.append(p)
    return out


def load_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Document]:
    """Load one file into documents (a JSON/JSONL file gives one per record)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"too large ({size} bytes > {max_bytes})")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"unreadable: {exc.strerror or exc}") from exc
    source = str(path)
    if suffix == ".pdf":
        return [_load_pdf(path, data, source)]
    text = _decode(data)
    if suffix in HTML_SUFFIXES:
        title, body = html_main_text(text)
        return [Document(source, body, title or path.stem, "html")]
    if suffix == ".json":
        return _load_json(text, source)
    if suffix == ".jsonl":
        return _load_jsonl(text, source)
    fmt = TEXT_SUFFIXES[suffix]
    return [Document(source, text, _md_title(text) if fmt == "md" else path.stem, fmt)]


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 at byte {exc.start} (convert it, e.g. iconv -f GBK -t UTF-8)") from exc


def _md_title(text: str) -> str:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else ""


def _load_pdf(path: Path, data: bytes, source: str) -> Document:
    pypdf = require("pypdf", "pypdf", "rag")
    import io

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or path.stem
    except Exception as exc:  # pypdf raises many unrelated types on broken files
        raise LoadError(f"broken PDF: {exc}") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise LoadError("PDF has no extractable text (scanned image?)")
    return Document(source, text, str(title), "pdf", {"pages": len(pages)})


def _record_doc(rec: Any, source: str, idx: int) -> Document | None:
    if isinstance(rec, str):
        return Document(f"{source}#{idx}", rec, "", "json")
    if not isinstance(rec, dict):
        return None
    text = next((str(rec[f]) for f in TEXT_FIELDS if isinstance(rec.get(f), str | int | float)), "")
    if not text:
        text = "\n".join(f"{k}: {v}" for k, v in rec.items() if isinstance(v, str))
    title = next((str(rec[f]) for f in TITLE_FIELDS if isinstance(rec.get(f), str)), "")
    rid = rec.get("id", rec.get("_id", idx))
    meta = {k: v for k, v in rec.items() if isinstance(v, str | int | float | bool) and k not in TEXT_FIELDS}
    return Document(f"{source}#{rid}", text, title, "json", meta) if text.strip() else None


def _load_json(text: str, source: str) -> list[Document]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError:
        raise LoadError("JSON nested too deeply to read") from None
    records = data if isinstance(data, list) else data.get("data", [data]) if isinstance(data, dict) else []
    if not isinstance(records, list):
        records = [data]
    docs = [d for i, r in enumerate(records) if (d := _record_doc(r, source, i))]
    if not docs:
        raise LoadError("JSON has no records with text")
    return docs


def _load_jsonl(text: str, source: str) -> list[Document]:
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(f"invalid JSON on line {n}: {exc.msg}") from exc
        except RecursionError:
            raise LoadError(f"JSON on line {n} nested too deeply to read") from None
        if d := _record_doc(rec, source, n - 1):
            docs.append(d)
    if not docs:
        raise LoadError("JSONL has no records with text")
    return docs


class _MainText(HTMLParser):
    """Collect visible text, preferring <main>/<article> and dropping page chrome."""

    SKIP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "form", "svg"}
    BLOCK = {"p", "div", "li", "br", "tr", "section", "article", "main", "pre", "blockquote"}
    HEADINGS = {"h1": "#", "h2": "##", "h3": "###", "h4": "####"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0
        self.main_depth = 0
        self.title = ""
        self._in_title = False
        self.all: list[str] = []
        self.main: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip_depth += 1
        elif tag in ("main", "article"):
            self.main_depth += 1
        if tag == "title":
            self._in_title = True
        if tag in self.HEADINGS:
            self._emit("\n\n" + self.HEADINGS[tag] + " ")
        elif tag in self.BLOCK:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skip_depth:
            self.skip_depth -= 1
        elif tag in ("main", "article") and self.main_depth:
            self.main_depth -= 1
        if tag == "title":
            self._in_title = False
        if tag in self.HEADINGS or tag in self.BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
            return
        if not self.skip_depth:
            self._emit(data)

    def _emit(self, s: str) -> None:
        if self.skip_depth:
            return
        self.all.append(s)
        if self.main_depth:
            self.main.append(s)


def html_main_text(html: str) -> tuple[str, str]:
    """``(title, main text)`` of an HTML page, headings kept as Markdown ``#`` lines."""
    p = _MainText()
    p.feed(html)
    p.close()
    parts = p.main if "".join(p.main).strip() else p.all
    text = "".join(parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return p.title, text
