"""What `learn`, `eval` and the Library's add box accept: documents, tables and data sets, read first.

  - document files and folders, as `documents.read_sources` reads them (a SEAL JSON file is one document);
  - a table of passages with their questions (`.csv .tsv .parquet`, or a JSON/JSONL file of flat rows or
    SQuAD's own file) and a Hugging Face data set id (`owner/name[:split]`, `hf:ID`), read by
    `data.load_data` with the column mapping of `--data-columns`: one document per passage, its questions
    with it. A string that is no existing path but looks like an id is one; offline, an id not in the
    datasets cache is one error line.

Everything is read and checked here, before a model loads; `documents_from` cuts it into passages later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional

from seal_desk.knowledge.data import TABLE_SUFFIXES, Columns, holds_rows, load_data, looks_like_hub_id
from seal_desk.knowledge.documents import (
    DATA_SUFFIXES,
    SUPPORTED,
    Document,
    Passage,
    Source,
    documents_from,
    read_records,
    read_sources,
)

INPUT_SUFFIXES = SUPPORTED | set(TABLE_SUFFIXES)  # what the path box completes and the file picker shows

ColumnSpec = Optional[str | Mapping[str, str] | Columns]


def is_data_set(spec: str | Path, columns: ColumnSpec = None) -> bool:
    """Whether `spec` is read by load_data (a table file, rows in JSON, a data set id) rather than as documents."""
    cols = columns if isinstance(columns, Columns) else Columns.parse(columns)
    text = str(spec).strip()
    path = Path(text).expanduser()
    if text.startswith("hf:") or not path.exists():
        return looks_like_hub_id(text)
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    return suffix in TABLE_SUFFIXES or suffix in DATA_SUFFIXES and holds_rows(read_records(path), cols)


def passage_sources(passages: list[Passage], where: str) -> list[Source]:
    """One source per passage, its questions with it; a title seen before gets its count: "Lake (2)"."""
    seen: dict[str, int] = {}
    sources = []
    for passage in passages:
        seen[passage.title] = seen.get(passage.title, 0) + 1
        title = passage.title if seen[passage.title] == 1 else f"{passage.title} ({seen[passage.title]})"
        sources.append(Source(where, title, passages=[passage]))
    return sources


def read_inputs(specs: Iterable[str | Path], columns: ColumnSpec = None) -> list[Source]:
    """Read every document, table and data set named (see the module doc); one-line InputErrors."""
    cols = columns if isinstance(columns, Columns) else Columns.parse(columns)  # a bad mapping fails first
    sources: list[Source] = []
    for spec in specs:
        if is_data_set(spec, cols):
            text = str(spec).strip()
            path = Path(text).expanduser()
            where = str(path) if not text.startswith("hf:") and path.exists() else text
            sources += passage_sources(load_data(spec, cols), where)
        else:
            sources += read_sources([spec])
    return sources


def load_inputs(specs: Iterable[str | Path], columns: ColumnSpec = None, **kwargs) -> list[Document]:
    """Documents of everything named (kwargs: documents.to_document's); passages repeated are kept once."""
    return documents_from(read_inputs(specs, columns), **kwargs)
