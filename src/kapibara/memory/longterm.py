"""Long-term memory: durable facts a user states, stored per user and recalled later.

    mem = LongTermMemory("~/.cache/kapibara/memory.sqlite", embedder=UseEmbedder())
    mem.observe("u1", "我对乳糖不耐受，帮我看看酸奶")   # extracts and stores the fact
    mem.recall("u1", "推荐一款牛奶")                    # -> [Fact("我对乳糖不耐受", ...)]

Facts come from ``extract_facts``: first-person patterns (allergies, diet, address,
preferences, family) in Chinese and English, plus an optional LLM pass
(``memory_extract`` template) for phrasing the patterns miss. Recall ranks a user's facts
by embedding similarity (or token overlap without an embedder) and keeps those above a
relevance threshold, so unrelated questions get no memory injected.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kapibara.models.base import Message, Model, Sampling
from kapibara.prompts.loader import detect_language
from kapibara.rag.bm25 import tokenize
from kapibara.rag.embedders import Embedder, normalize
from kapibara.rag.prompting import render_messages

# Sentences worth remembering: statements about the speaker's body, diet, home, likes, family.
_ZH_FACT = re.compile(
    r"我(?:们家|家|的)?[^，。！？；]{0,12}?(?:过敏|不耐受|不吃|不喝|忌口|吃素|素食|喜欢|不喜欢|爱吃|爱喝|讨厌|"
    r"住在|住|地址|怀孕|糖尿病|高血压|减肥|控糖|健身|叫|名字|孩子|宝宝|老人|宠物|猫|狗|习惯|偏好|只买|常买)"
)
_EN_FACT = re.compile(
    r"\b(?:my name is|i live in|i live at|i'm from|i am from|call me)\s+\w+|"
    r"\b(?:i am|i'm|im|i have|i've|i don't|i do not|i never|i always|i live|i prefer|i like|i love|i hate|"
    r"my name is|my (?:son|daughter|kids?|wife|husband|address|family))\b[^.!?]*"
    r"(?:allerg|intoleran|vegetarian|vegan|diabet|pregnan|eat|drink|live|prefer|like|love|hate|name|kid|son|daughter|address|diet)",
    re.I,
)
_SENT = re.compile(r"[^。！？；!?;\n]+?(?:[。！？；!?;]+|\.(?=\s|$)|(?=\n)|$)")
_QUESTION = re.compile(r"[？?]\s*$|^(?:请问|能不能|可以|有没有|what|how|can|could|do you|is there)", re.I)
_NONE = {"无", "none", "没有", "no", ""}


@dataclass
class Fact:
    """A remembered fact; ``score`` is its relevance to the last recall query."""

    id: str
    user_id: str
    text: str
    created_at: float
    source: str = ""
    score: float = 0.0


def extract_facts(text: str, model: Model | None = None) -> list[str]:
    """Durable first-person facts in ``text``: pattern matches, plus the model's when given."""
    facts: list[str] = []
    for m in _SENT.finditer(text):
        sent = m.group().strip(" ，,。.!！")
        for clause in re.split(r"[，,]", sent):
            clause = clause.strip()
            # "我对花生过敏吗？" asks, it does not state: questions are never facts.
            if not clause or _QUESTION.search(clause) or clause in facts:
                continue
            if _ZH_FACT.search(clause) or _EN_FACT.search(clause):
                facts.append(clause)
    if model is not None:
        msgs = render_messages("memory_extract", detect_language(text), text=text)
        out = model.chat(msgs, max_tokens=80, sampling=Sampling(temperature=0.0)).text
        for line in out.splitlines():
            line = line.strip(" -*•\t")
            # Keep only model facts grounded in the message: small models invent otherwise.
            grounded = set(tokenize(line)) & set(tokenize(text))
            if line.lower() not in _NONE and line not in facts and len(grounded) >= 1:
                facts.append(line)
    return facts


class LongTermMemory:
    """Per-user facts in SQLite (with their vectors when an embedder is given)."""

    def __init__(self, path: str | Path, *, embedder: Embedder | None = None, min_score: float = 0.35) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.min_score = min_score
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS facts (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, text TEXT NOT NULL,"
            " created_at REAL, source TEXT, vec BLOB)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS facts_user ON facts(user_id)")
        self._db.commit()

    def remember(self, user_id: str, fact: str, *, source: str = "") -> bool:
        """Store a fact; returns False when the user already has this exact fact."""
        fact = fact.strip()
        fid = hashlib.sha1(f"{user_id}\x00{fact}".encode()).hexdigest()[:16]
        if self._db.execute("SELECT 1 FROM facts WHERE id = ?", (fid,)).fetchone():
            return False
        vec = self.embedder.embed_batch([fact])[0].astype(np.float32).tobytes() if self.embedder else None
        with self._db:
            self._db.execute(
                "INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?)", (fid, user_id, fact, time.time(), source, vec)
            )
        return True

    def observe(self, user_id: str, text: str, *, model: Model | None = None, source: str = "") -> list[str]:
        """Extract facts from a user message and remember the new ones; returns them."""
        return [f for f in extract_facts(text, model) if self.remember(user_id, f, source=source)]

    def facts(self, user_id: str) -> list[Fact]:
        """All facts of a user, oldest first."""
        rows = self._db.execute(
            "SELECT id, user_id, text, created_at, source FROM facts WHERE user_id = ? ORDER BY created_at",
            (user_id,),
        )
        return [Fact(*r) for r in rows]

    def recall(self, user_id: str, query: str, *, k: int = 3, min_score: float | None = None) -> list[Fact]:
        """The user's facts relevant to ``query`` (score >= ``min_score``), best first."""
        rows = self._db.execute(
            "SELECT id, user_id, text, created_at, source, vec FROM facts WHERE user_id = ?", (user_id,)
        ).fetchall()
        if not rows:
            return []
        threshold = self.min_score if min_score is None else min_score
        if self.embedder is not None and all(r[5] for r in rows):
            q = normalize(self.embedder.embed_batch([query]))[0]
            mat = np.stack([np.frombuffer(r[5], dtype=np.float32) for r in rows])
            scores = mat @ q
        else:
            qt = set(tokenize(query))
            scores = np.array([len(qt & set(tokenize(r[2]))) / max(1, len(qt)) for r in rows])
        order = np.argsort(-scores)[:k]
        return [
            Fact(rows[i][0], rows[i][1], rows[i][2], rows[i][3], rows[i][4], float(scores[i]))
            for i in order
            if scores[i] >= threshold
        ]

    def recall_message(self, user_id: str, query: str, *, k: int = 3, language: str | None = None) -> Message | None:
        """A system message with the user's facts relevant to ``query``, or None when none are.

        Put it before the user's turn so the model takes, e.g., an intolerance into account.
        """
        facts = self.recall(user_id, query, k=k)
        if not facts:
            return None
        lang = language or detect_language(query)
        return render_messages("memory_recall", lang, facts=[f.text for f in facts])[0]

    def forget(self, user_id: str, fact_id: str | None = None) -> int:
        """Delete one fact, or all of a user's facts; returns how many were deleted."""
        with self._db:
            if fact_id:
                cur = self._db.execute("DELETE FROM facts WHERE user_id = ? AND id = ?", (user_id, fact_id))
            else:
                cur = self._db.execute("DELETE FROM facts WHERE user_id = ?", (user_id,))
        return cur.rowcount

    def close(self) -> None:
        self._db.close()
