#!/usr/bin/env python3
"""Build the grocery-assistant demo catalog: ``src/kapibara/demo/data/catalog.db``.

The data lives in YAML files under ``src/kapibara/demo/data/source/`` (see docs/demo.md);
``kapibara.demo.build`` turns them into the database, deterministically, and writes it
atomically.

Usage::

    python scripts/build_demo_catalog.py            # rebuild the committed db
    python scripts/build_demo_catalog.py --out x.db # write elsewhere (tests do this)
    python scripts/build_demo_catalog.py --source my/source --out x.db
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kapibara.demo.build import DEFAULT_OUT, build_rows, write_db
from kapibara.demo.source import load_source

__all__ = ["main", "write_db"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the SQLite file")
    parser.add_argument("--source", type=Path, default=None, help="a folder of source YAML files [default: the packaged ones]")
    args = parser.parse_args(argv)
    rows = build_rows(load_source(args.source))
    path = write_db(args.out, rows)
    counts = ", ".join(f"{t}={len(r)}" for t, r in rows.items())
    print(f"wrote {path}: {counts}")


if __name__ == "__main__":
    main()
