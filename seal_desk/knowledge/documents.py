"""Documents, passages and questions, and loading them from files.

Formats: .txt .md .html/.htm .pdf, SQuAD-style .json/.jsonl (`{title, context, questions:
[{question, answer}]}`), and folders of these. Long text is split into passages by `splitting`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

from seal_desk.errors import InputError
from seal_desk.knowledge.splitting import split_passages

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
DATA_SUFFIXES = {".json", ".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | DATA_SUFFIXES | {".pdf"}


@dataclass
class Question:
    question: str
    answer: str
    source: str = "data"  # "data" | "user" | "generated"
    id: Optional[int] = None


@dataclass
class Passage:
    title: str
    text: str
    questions: list[Question] = field(default_factory=list)
    self_edits: list[str] = field(default_factory=list)  # supplied self-edits (e.g. GPT-4.1 baseline)
    id: Optional[int] = None

    @property
    def sha256(self) -> str:
        return content_hash(self.text)


@dataclass
class Document:
    path: str
    title: str
    passages: list[Passage]
    id: Optional[int] = None

    @property
    def sha256(self) -> str:
        return content_hash("\n\n".join(p.text for p in self.passages))

    @property
    def n_questions(self) -> int:
        return sum(len(p.questions) for p in self.passages)


def content_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in raw[:8192]:
        raise InputError(f"{path}: looks like a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "svg"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "section",
        "article",
        "pre",
        "blockquote",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self._skip:
            return
        if self._in_title:
            self.title += data.strip()
        else:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """Visible text of an HTML page, paragraph breaks kept; returns (title, text)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    blocks = "".join(parser.parts).split("\n\n")
    return parser.title, "\n\n".join(" ".join(b.split()) for b in blocks if b.strip())


def pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: unreadable PDF ({exc})") from None
    return "\n\n".join(pages)


def _questions(raw, where: str) -> list[Question]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{where}: 'questions' must be a list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            raise InputError(f"{where}: question {i + 1} has no 'question' text")
        answer = item.get("answer")
        if answer is None and isinstance(item.get("answers"), list) and item["answers"]:
            first = item["answers"][0]
            answer = first.get("text") if isinstance(first, dict) else first
        if answer is None or not str(answer).strip():
            raise InputError(f"{where}: question {i + 1} ('{str(item['question'])[:40]}') has no answer")
        out.append(Question(str(item["question"]).strip(), str(answer).strip(), str(item.get("source", "data"))))
    return out


def _record_passage(item, where: str, default_title: str) -> Passage:
    if not isinstance(item, dict):
        raise InputError(f"{where}: each entry must be an object with 'context'")
    context = item.get("context", item.get("text"))
    if not isinstance(context, str) or not context.strip():
        raise InputError(f"{where}: entry has no 'context' text")
    edits = item.get("self_edits") or []
    if not isinstance(edits, list) or not all(isinstance(e, str) for e in edits):
        raise InputError(f"{where}: 'self_edits' must be a list of strings")
    return Passage(
        title=str(item.get("title") or default_title).strip(),
        text=context.strip(),
        questions=_questions(item.get("questions"), where),
        self_edits=edits,
    )


def load_data_file(path: Path) -> list[Passage]:
    """SQuAD-style passages with questions from .json (a list, or {data: [...]}) or .jsonl."""
    text = _read_text(path)
    if path.suffix.lower() == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: malformed JSON ({exc.msg})") from None
    else:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
    if isinstance(records, dict):
        records = records.get("data", records.get("passages", [records]))
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a list of passages")
    passages = [_record_passage(r, f"{path} entry {i + 1}", path.stem) for i, r in enumerate(records)]
    if not passages:
        raise InputError(f"{path}: no passages in file")
    return passages


def load_document(
    path: str | Path,
    max_tokens: int = 400,
    count_tokens: Optional[Callable[[str], int]] = None,
) -> Document:
    """Load one file as a Document of passages."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder (use load_documents)")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{path}: unsupported file type '{suffix or 'none'}' (use {', '.join(sorted(SUPPORTED))})")
    title = path.stem.replace("_", " ").replace("-", " ").strip()
    if suffix in DATA_SUFFIXES:
        passages = load_data_file(path)
        return Document(str(path), passages[0].title if len(passages) == 1 else title, passages)
    if suffix == ".pdf":
        text = pdf_to_text(path)
    elif suffix in HTML_SUFFIXES:
        html_title, text = html_to_text(_read_text(path))
        title = html_title or title
    else:
        text = _read_text(path)
        if suffix in {".md", ".markdown"}:
            heading = next((ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("# ")), "")
            title = heading or title
    chunks = split_passages(text, max_tokens=max_tokens, count_tokens=count_tokens)
    if not chunks:
        raise InputError(f"{path}: document is empty")
    return Document(str(path), title, [Passage(title, chunk) for chunk in chunks])


def iter_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively) into supported files, sorted; hidden files skipped."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InputError(f"{path}: folder has no supported documents")
            files.extend(found)
        else:
            files.append(path)
    return files


def load_documents(paths: Iterable[str | Path], **kwargs) -> list[Document]:
    """Load files and folders; passages repeated across documents are kept once."""
    docs: list[Document] = []
    seen: set[str] = set()
    for path in iter_files(paths):
        doc = load_document(path, **kwargs)
        unique = []
        for passage in doc.passages:
            if passage.sha256 not in seen:
                seen.add(passage.sha256)
                unique.append(passage)
        if unique:
            doc.passages = unique
            docs.append(doc)
    return docs
