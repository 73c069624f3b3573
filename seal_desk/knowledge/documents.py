"""Documents, passages and questions, and loading them from files.

Formats: .txt .md .html/.htm .pdf, SQuAD-style .json/.jsonl (`{title, context, questions:
[{question, answer}]}`), and folders of these. Long text is split into passages by `splitting`.
Text is decoded by its byte-order mark, as UTF-8, or in the encoding charset-normalizer finds
(`decode_text`). Files are read first (`read_sources`) and cut into passages later (`documents_from`), so
callers can check every input before a model loads. Data sets by name: `knowledge.data.load_data`; both
together, as `learn` and the Library take them: `knowledge.inputs.read_inputs`.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
MAX_DOCUMENT_BYTES = 16 * 2**20  # one text or HTML file; larger ones are refused before reading
MAX_PDF_BYTES = 64 * 2**20  # a PDF's bytes are mostly pictures and fonts: it may be larger for the same text
_CONTROL = frozenset(range(32)) - {9, 10, 11, 12, 13, 27}  # control bytes that text files do not hold


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
    return decode_text(raw, path)


_BOMS = (  # UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(raw: bytes, where: str | Path = "text") -> str:
    """Bytes of a text file as text: a byte-order mark decides (UTF-8, UTF-16, UTF-32); then UTF-8; then the
    encoding charset-normalizer finds (Windows-1252/Latin-1 when it fits as well as any other). NUL bytes
    or many control bytes without a mark, or bytes no encoding explains, are a one-line InputError: a binary file."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                raise InputError(f"{where}: not valid {encoding.upper().removesuffix('-SIG')} text") from None
    head = raw[:8192]
    if b"\x00" in head or sum(b in _CONTROL for b in head) > max(2, len(head) // 10):
        raise InputError(f"{where}: looks like a binary file, not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(raw)
    best = matches.best()
    if best is None:
        raise InputError(f"{where}: looks like a binary file, not text (no text encoding fits)")
    # Short Western text fits several code pages equally well (cp1250 reads "è" as "č"): prefer
    # Windows-1252, a superset of Latin-1's letters, among the matches as clean as the best.
    western = next((m for m in matches if m.chaos <= best.chaos + 0.01 and "cp1252" in m.could_be_from_charset), None)
    if western is None and best.encoding.startswith(_EAST_ASIAN) and _mostly_ascii(raw):
        # A few accented letters in Western text can read as one East Asian double-byte character ("João" as
        # "Jo緌"); text in those encodings is mostly high bytes, so mostly-ASCII text is Windows-1252/Latin-1.
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return str(western or best)


_EAST_ASIAN = ("big5", "gb", "hz", "euc_", "shift_jis", "cp932", "cp949", "cp950", "johab", "iso2022")


def _mostly_ascii(raw: bytes) -> bool:
    return sum(b >= 0x80 for b in raw) < 0.4 * len(raw)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message as one short line (library messages can run over several)."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


@contextmanager
def quiet_loggers(*names: str, level: int = logging.ERROR) -> Iterator[None]:
    """Hold these libraries' loggers at `level` for the block: their warnings (pypdf's "EOF marker not
    found", datasets' cache notes) would otherwise print lines of their own around our one-line errors."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, old in zip(loggers, before):
            logger.setLevel(old)


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
        with quiet_loggers("pypdf"):
            reader = PdfReader(str(path))
            pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: unreadable PDF ({one_line(exc)})") from None
    except Exception as exc:  # a damaged file can trip pypdf anywhere: still one line, not a traceback
        raise InputError(f"{path}: unreadable PDF ({type(exc).__name__}: {one_line(exc)})") from None
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
    return passages_from_records(read_records(path), path)


def read_records(path: Path) -> list:
    """The entries of a .json file (a list, or {data|passages: [...]}) or of a .jsonl file (one per line)."""
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
    return records


def passages_from_records(records: list, path: Path) -> list[Passage]:
    """SEAL/SQuAD entries (`{title, context, questions: [{question, answer}], self_edits}`) as passages."""
    passages = [_record_passage(r, f"{path} entry {i + 1}", path.stem) for i, r in enumerate(records)]
    if not passages:
        raise InputError(f"{path}: no passages in file")
    return passages


@dataclass
class Source:
    """A document file read and decoded, not yet cut into passages (that needs the model's tokenizer):
    reading every input first lets a typo fail before a model loads."""

    path: str
    title: str
    text: str = ""
    passages: Optional[list[Passage]] = None  # a data file's passages, as given


def read_source(path: str | Path) -> Source:
    """Read and decode one document file; every problem is a one-line InputError."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder (use load_documents)")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{path}: unsupported file type '{suffix or 'none'}' (use {', '.join(sorted(SUPPORTED))})")
    title = path.stem.replace("_", " ").replace("-", " ").strip()
    size, limit = path.stat().st_size, MAX_PDF_BYTES if suffix == ".pdf" else MAX_DOCUMENT_BYTES
    if suffix not in DATA_SUFFIXES and size > limit:
        raise InputError(
            f"{path}: {size / 2**20:.1f} MB is over the {limit // 2**20} MB limit for one document; "
            "split it into smaller files"
        )
    if suffix in DATA_SUFFIXES:
        passages = load_data_file(path)
        return Source(str(path), passages[0].title if len(passages) == 1 else title, passages=passages)
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
    if not text.strip():
        raise InputError(f"{path}: document is empty")
    return Source(str(path), title, text)


def to_document(source: Source, max_tokens: int = 400, count_tokens: Optional[Callable[[str], int]] = None) -> Document:
    """A read file as a Document: text cut into passages of at most `max_tokens` tokens."""
    if source.passages is not None:
        return Document(source.path, source.title, source.passages)
    chunks = split_passages(source.text, max_tokens=max_tokens, count_tokens=count_tokens)
    if not chunks:
        raise InputError(f"{source.path}: document is empty")
    return Document(source.path, source.title, [Passage(source.title, chunk) for chunk in chunks])


def load_document(
    path: str | Path,
    max_tokens: int = 400,
    count_tokens: Optional[Callable[[str], int]] = None,
) -> Document:
    """Load one file as a Document of passages."""
    return to_document(read_source(path), max_tokens, count_tokens)


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


def read_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Read every file of these files and folders (see iter_files), before anything is split or learned."""
    return [read_source(path) for path in iter_files(paths)]


def documents_from(sources: Iterable[Source], **kwargs) -> list[Document]:
    """Documents of read files (kwargs: to_document's); passages repeated across documents are kept once."""
    docs: list[Document] = []
    seen: set[str] = set()
    for source in sources:
        doc = to_document(source, **kwargs)
        unique = []
        for passage in doc.passages:
            if passage.sha256 not in seen:
                seen.add(passage.sha256)
                unique.append(passage)
        if unique:
            doc.passages = unique
            docs.append(doc)
    return docs


def load_documents(paths: Iterable[str | Path], **kwargs) -> list[Document]:
    """Load files and folders; passages repeated across documents are kept once."""
    return documents_from(read_sources(paths), **kwargs)
