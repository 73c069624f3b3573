"""Data sets of passages with questions, by name: what `--data` accepts (bench, rl, learner, the Library).

A spec is one of
  - a SEAL/SQuAD JSON or JSONL file (`[{title, context, questions: [{question, answer}]}]`), read by
    `documents.load_data_file` exactly as before;
  - a table of rows, one question per row: a flat JSON/JSONL file (`{context, question, answer}` per row),
    the official SQuAD file (`{data: [{title, paragraphs: [{context, qas}]}]}`), or a `.csv`, `.tsv` or
    `.parquet` file (read with the `datasets` library);
  - a Hugging Face data set id, `ID[:SPLIT]` or `ID:CONFIG:SPLIT` (`rajpurkar/squad:validation`,
    `rajpurkar/squad:validation[:200]`), loaded with `datasets.load_dataset` (its cache; offline,
    HF_DATASETS_OFFLINE / HF_HUB_OFFLINE or an unreachable hub, only a cached id loads). The split
    defaults to `train` (or the only one). `hf:` in front forces an id where a file of that name exists.

Rows sharing a context become one passage with their questions, in order of first appearance. Columns:
context (default `context`, else `passage` or `text`), question (`question`), answer (`answers`, else
`answer`: a string, a list (first item) or SQuAD's `{text: [...]}`; rows without an answer are left
out), title (`title`, else the data set's name). `columns` maps other names:
`context=passage,question=q,answer=a,title=topic`.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from seal_desk.errors import InputError
from seal_desk.knowledge.documents import (
    DATA_SUFFIXES,
    SUPPORTED,
    Passage,
    Question,
    one_line,
    passages_from_records,
    quiet_loggers,
    read_records,
)

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
DATA_FILE_SUFFIXES = DATA_SUFFIXES | set(TABLE_SUFFIXES)
_HUB_ID = re.compile(
    r"(?:hf:)?(?P<id>[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?)(?::(?P<a>[\w.-]+))?(?::(?P<b>[\w.-]+))?(?P<slice>\[[^\]]*\])?"
)
_OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")  # datasets' own switches (newer, older name)
_LIBRARY_LOGGERS = ("datasets", "huggingface_hub", "fsspec", "filelock", "urllib3", "httpx")


@dataclass(frozen=True)
class Columns:
    """Which column holds what; a tuple tries its names in order."""

    context: tuple[str, ...] = ("context", "passage", "text")
    question: tuple[str, ...] = ("question",)
    answer: tuple[str, ...] = ("answers", "answer")
    title: tuple[str, ...] = ("title",)
    explicit: frozenset[str] = frozenset()  # the roles the user mapped: those columns must exist

    @classmethod
    def parse(cls, spec: str | Mapping[str, str] | None) -> Columns:
        """`context=passage,question=q,answer=a,title=topic` (or a dict of the same) over the defaults."""
        if not spec:
            return cls()
        roles = [f.name for f in fields(cls) if f.name != "explicit"]
        pairs = spec.items() if isinstance(spec, Mapping) else (_pair(part) for part in spec.split(",") if part.strip())
        mapped = {}
        for role, column in pairs:
            role, column = role.strip().lower(), column.strip()
            if role not in roles:
                raise InputError(f"--data-columns: unknown field '{role}' (use {', '.join(roles)})")
            if not column:
                raise InputError(f"--data-columns: {role}= needs a column name")
            mapped[role] = (column,)
        return cls(**mapped, explicit=frozenset(mapped))


def _pair(part: str) -> tuple[str, str]:
    if "=" not in part:
        raise InputError(f"--data-columns: '{part.strip()}' is not FIELD=COLUMN (e.g. context=passage,question=q)")
    role, column = part.split("=", 1)
    return role, column


def load_data(spec: str | Path, columns: str | Mapping[str, str] | Columns | None = None) -> list[Passage]:
    """Passages with their questions from a data file or a Hugging Face data set id (see the module doc).

    Every problem is one InputError line; with no data set here and no hub: "ID: not in the local datasets
    cache and the hub cannot be reached"."""
    cols = columns if isinstance(columns, Columns) else Columns.parse(columns)
    text = str(spec).strip()
    path = Path(text).expanduser()
    if text and not text.startswith("hf:") and path.is_file() and path.suffix.lower() in DATA_SUFFIXES:
        records = read_records(path)
        squad = _official_squad(records)
        if squad is not None:
            return passages_from_rows(squad, Columns(), str(path), path.stem)
        if holds_rows(records, cols):
            return passages_from_rows(records, cols, str(path), path.stem)
        return passages_from_records(records, path)  # SEAL/SQuAD entries, exactly as load_data_file reads them
    rows, where, name = load_rows(text, lambda names, where: _used(names, cols, where))
    return passages_from_rows(rows, cols, where, name)


Select = Optional[Callable[[list[str], str], list[str]]]  # (column names, where) -> the columns to keep


def load_rows(spec: str | Path, select: Select = None) -> tuple[list[dict], str, str]:
    """The rows of a table: a .csv/.tsv/.parquet file (through `datasets`), a JSON/JSONL list of objects, or
    a Hugging Face data set id (`ID[:SPLIT]`, `ID:CONFIG:SPLIT`). Returns (rows, where, name): `where` names
    the source in errors, `name` is its file stem or data set name. `select` picks the columns to keep."""
    text = str(spec).strip()
    if not text:
        raise InputError("--data: empty (give a data file or a Hugging Face data set id)")
    path = Path(text).expanduser()
    if not text.startswith("hf:") and path.exists():
        if path.is_dir():
            raise InputError(f"{path}: is a folder (give a data file: {', '.join(sorted(DATA_FILE_SUFFIXES))})")
        suffix = path.suffix.lower()
        if suffix in TABLE_SUFFIXES:
            return _table_rows(path, TABLE_SUFFIXES[suffix], select), str(path), path.stem
        if suffix not in DATA_SUFFIXES:
            raise InputError(
                f"{path}: unsupported data file type '{suffix or 'none'}' (use {', '.join(sorted(DATA_FILE_SUFFIXES))})"
            )
        records = read_records(path)
        if not all(isinstance(r, dict) for r in records):
            raise InputError(f"{path}: expected a list of objects, one row each")
        return records, str(path), path.stem
    if _looks_like_path(text):
        raise InputError(f"{path}: no such file")
    match = _HUB_ID.fullmatch(text)
    if match is None:
        raise InputError(f"{text}: no such file, and not a Hugging Face data set id (owner/name[:split])")
    config, split = (match["a"], match["b"]) if match["b"] else (None, match["a"])
    if match["slice"]:
        split = (split or "train") + match["slice"]
    name = match["id"]
    where = name + (f":{config}" if config else "") + (f":{split}" if split else "")
    return _hub_rows(name, config, split, where, select), where, name.rsplit("/", 1)[-1]


def looks_like_hub_id(text: str) -> bool:
    """`owner/name[:split]` (or `hf:ID`) that names no local path: no document suffix, no local folder `owner`."""
    text = text.strip()
    match = _HUB_ID.fullmatch(text)
    if match is None or text.startswith("hf:"):
        return match is not None
    if "/" not in match["id"] or _looks_like_path(text):
        return False
    owner, name = match["id"].split("/")
    return Path(name).suffix.lower() not in SUPPORTED and not Path(owner).expanduser().exists()


def _looks_like_path(text: str) -> bool:
    if text.startswith("hf:"):
        return False
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or os.sep != "/" and os.sep in text:
        return True
    return Path(text.split(":", 1)[0].split("[", 1)[0]).suffix.lower() in DATA_FILE_SUFFIXES


# files -------------------------------------------------------------------------------------------
def holds_rows(records: list, cols: Columns) -> bool:
    """A JSON/JSONL file's entries are a table (one question per row, or SQuAD's own file), not SEAL entries."""
    return bool(cols.explicit) or _flat_rows(records, cols) or _official_squad(records) is not None


def _flat_rows(records: list, cols: Columns) -> bool:
    """One question per entry (a `question` field of its own) rather than SEAL's nested `questions` list."""
    return any(
        isinstance(r, dict) and "questions" not in r and any(isinstance(r.get(c), str) for c in cols.question)
        for r in records[:50]
    )


def _official_squad(records: list) -> Optional[list[dict]]:
    """SQuAD's own JSON (`data: [{title, paragraphs: [{context, qas: [{question, answers}]}]}]`) as rows."""
    if not records or not all(isinstance(r, dict) and isinstance(r.get("paragraphs"), list) for r in records):
        return None
    rows = []
    for article in records:
        for para in article["paragraphs"]:
            if not isinstance(para, dict):
                continue
            qas = para.get("qas") or [{}]
            for qa in qas if isinstance(qas, list) else [{}]:
                qa = qa if isinstance(qa, dict) else {}
                answers = None if qa.get("is_impossible") else qa.get("answers")  # SQuAD 2.0: no answer
                rows.append(
                    {
                        "title": article.get("title"),
                        "context": para.get("context"),
                        "question": qa.get("question"),
                        "answers": answers,
                    }
                )
    return rows


def _table_rows(path: Path, builder: str, select: Select) -> list[dict]:
    """A CSV/TSV/Parquet file through `datasets`, its arrow cache in a temporary folder (not the user's)."""
    import datasets

    options = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    with _library_quiet(), tempfile.TemporaryDirectory(prefix="seal-desk-data-") as cache:
        try:
            table = datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache, **options)
            if select is not None:
                table = table.select_columns(select(table.column_names, str(path)))
            return table.to_list()
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{path}: cannot read as {builder.upper()} ({type(exc).__name__}: {one_line(exc)})"
            ) from None


# the hub -----------------------------------------------------------------------------------------
def _hub_rows(name: str, config: Optional[str], split: Optional[str], where: str, select: Select) -> list[dict]:
    import datasets

    with _library_quiet(), _offline_unless_reachable():
        try:
            loaded = datasets.load_dataset(name, config, split=split)
        except ConnectionError:
            raise InputError(_unreachable(name)) from None
        except datasets.exceptions.DatasetNotFoundError as exc:
            raise InputError(f"{name}: no such data set on the Hugging Face hub ({one_line(exc)})") from None
        except FileNotFoundError:
            raise InputError(_unreachable(name) if _offline() else f"{name}: no such file or data set") from None
        except Exception as exc:  # a bad split or config name, a gated set, a broken cache: one line each
            raise InputError(f"{where}: cannot load ({type(exc).__name__}: {one_line(exc)})") from None
        if isinstance(loaded, Mapping):  # no split given: a DatasetDict
            splits = list(loaded)
            if "train" not in loaded and len(splits) != 1:
                raise InputError(f"{name}: choose a split, e.g. {name}:{splits[0]} (splits: {', '.join(splits)})")
            loaded = loaded["train" if "train" in loaded else splits[0]]
        if select is not None:
            loaded = loaded.select_columns(select(loaded.column_names, where))
        return loaded.to_list()


def _unreachable(name: str) -> str:
    head = f"{name}: no such file, and not" if "/" not in name else f"{name}: not"
    return f"{head} in the local datasets cache and the hub cannot be reached"


def _offline() -> bool:
    import datasets

    return any(getattr(datasets.config, flag, False) for flag in _OFFLINE_FLAGS)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the data set hub answers a TCP connection now (behind a proxy: assumed yes)."""
    import datasets

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(datasets.config.HF_ENDPOINT)
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextmanager
def _offline_unless_reachable() -> Iterator[None]:
    """Without a hub, datasets retries for half a minute before it looks in its cache: when the hub cannot
    be reached now, go straight to the cache (offline mode) for this one load."""
    import datasets

    if _offline() or hub_reachable():
        yield
        return
    before = {flag: getattr(datasets.config, flag) for flag in _OFFLINE_FLAGS if hasattr(datasets.config, flag)}
    for flag in before:
        setattr(datasets.config, flag, True)
    try:
        yield
    finally:
        for flag, value in before.items():
            setattr(datasets.config, flag, value)


@contextmanager
def _library_quiet() -> Iterator[None]:
    """No progress bars nor cache notes from datasets / huggingface_hub on our terminal."""
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with quiet_loggers(*_LIBRARY_LOGGERS):
            yield
    finally:
        if bars:
            datasets.enable_progress_bars()


# rows -> passages --------------------------------------------------------------------------------
def _first(names: tuple[str, ...], present) -> Optional[str]:
    return next((n for n in names if n in present), None)


def _used(column_names: list[str], cols: Columns, where: str) -> list[str]:
    """The columns a table needs, checked: a missing context (or a mapped column) is one line naming them."""
    present = set(column_names)
    for role in cols.explicit:
        name = getattr(cols, role)[0]
        if name not in present:
            raise InputError(f"{where}: no column '{name}' for {role} (columns: {', '.join(column_names)})")
    if _first(cols.context, present) is None:
        raise InputError(
            f"{where}: no context column (columns: {', '.join(column_names)}); map one with --data-columns context=COL"
        )
    question, answer = _first(cols.question, present), _first(cols.answer, present)
    if question and not answer:
        raise InputError(
            f"{where}: no answer column (columns: {', '.join(column_names)}); map one with --data-columns answer=COL"
        )
    wanted = [_first(names, present) for names in (cols.context, cols.question, cols.answer, cols.title)]
    return [name for name in wanted if name]


def answer_text(value) -> Optional[str]:
    """The gold answer in a cell: a string, a number, the first of a list, SQuAD's `{text: [...]}`."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return answer_text(value.get("text", value.get("answer")))
    if isinstance(value, (list, tuple)):
        return next((a for a in map(answer_text, value) if a), None)
    text = str(value).strip()
    return text or None


def passages_from_rows(rows: list, cols: Columns, where: str, default_title: str) -> list[Passage]:
    """One passage per distinct context, its rows' questions in order (rows without an answer left out)."""
    by_context: dict[str, Passage] = {}
    asked = answered = 0
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(f"{where} row {i + 1}: expected an object with a context")
        context = next((row[c] for c in cols.context if isinstance(row.get(c), str)), None)
        if context is None or not context.strip():
            raise InputError(f"{where} row {i + 1}: no context text")
        key = context.strip()
        passage = by_context.get(key)
        if passage is None:
            title = next((str(row[c]).strip() for c in cols.title if row.get(c) not in (None, "")), "")
            passage = by_context[key] = Passage(title or default_title, key)
        question = next((row[c] for c in cols.question if row.get(c) is not None), None)
        answer = answer_text(next((row[c] for c in cols.answer if c in row), None))
        if question is None or not str(question).strip():
            continue
        asked += 1
        if answer:
            answered += 1
            passage.questions.append(Question(str(question).strip(), answer))
    if not by_context:
        raise InputError(f"{where}: no passages in the data")
    if asked and not answered:
        raise InputError(f"{where}: no question has an answer; map the answer column with --data-columns answer=COL")
    return list(by_context.values())


__all__ = [
    "Columns",
    "DATA_FILE_SUFFIXES",
    "answer_text",
    "holds_rows",
    "hub_reachable",
    "load_data",
    "load_rows",
    "looks_like_hub_id",
    "passages_from_rows",
]
