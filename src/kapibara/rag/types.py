"""The records retrieval passes around: documents, chunks, hits and the ingest report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """One loaded document (a file, or one record of a JSON/JSONL file)."""

    source: str
    text: str
    title: str = ""
    format: str = "txt"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A piece of a document, the unit that is indexed and cited.

    ``start``/``end`` are character offsets into the document text; ``heading`` is the
    Markdown heading path (``"Returns > Fresh food"``) the chunk sits under.
    """

    id: str
    source: str
    text: str
    title: str = ""
    heading: str = ""
    start: int = 0
    end: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hit:
    """A retrieved chunk with its score and the retriever that found it."""

    chunk: Chunk
    score: float
    retriever: str = ""

    @property
    def id(self) -> str:
        return self.chunk.id


@dataclass
class IngestReport:
    """What one ingest run did. Bad files land in ``skipped`` with the reason."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    chunks_added: int = 0
    duplicates_dropped: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
