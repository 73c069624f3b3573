import json

import pytest

from seal_desk.errors import InputError
from seal_desk.knowledge.documents import html_to_text, load_document, load_documents
from seal_desk.knowledge.questions import attach, load_questions
from seal_desk.knowledge.splitting import split_passages


def make_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF with a Helvetica text line (offsets computed for the xref)."""
    stream = f"BT /F1 12 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_text_markdown_html_pdf(tmp_path):
    (tmp_path / "a.txt").write_text("First paragraph here.\n\nSecond paragraph here.")
    (tmp_path / "b.md").write_text("# Lake Notes\n\nLake Quorra is deep.")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Bridge</title><script>var x=1;</script></head>"
        "<body><p>The bridge is orange.</p><p>It opened in 1934.</p></body></html>"
    )
    (tmp_path / "d.pdf").write_bytes(make_pdf("Lake Quorra is 63 metres deep."))
    a = load_document(tmp_path / "a.txt")
    assert a.title == "a" and "Second paragraph" in a.passages[0].text
    assert load_document(tmp_path / "b.md").title == "Lake Notes"
    c = load_document(tmp_path / "c.html")
    assert c.title == "Bridge" and "var x" not in c.passages[0].text and "1934" in c.passages[0].text
    assert "63 metres" in load_document(tmp_path / "d.pdf").passages[0].text


def test_squad_json_and_jsonl(tmp_path):
    rec = {
        "title": "T",
        "context": "Some context.",
        "questions": [{"question": "Q?", "answer": "A"}],
        "self_edits": ["x y z"],
    }
    (tmp_path / "p.json").write_text(json.dumps([rec, {**rec, "context": "Other."}]))
    (tmp_path / "p.jsonl").write_text(json.dumps(rec) + "\n")
    doc = load_document(tmp_path / "p.json")
    assert len(doc.passages) == 2 and doc.passages[0].questions[0].answer == "A"
    assert doc.passages[0].self_edits == ["x y z"]
    # folder: the jsonl duplicates the json's first passage, which is kept once
    docs = load_documents([tmp_path])
    assert sum(len(d.passages) for d in docs) == 2


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("bad.json", '[{"title": ', "malformed JSON"),
        ("noans.json", json.dumps([{"context": "c", "questions": [{"question": "q?"}]}]), "has no answer"),
        ("noctx.json", json.dumps([{"title": "t"}]), "no 'context'"),
        ("empty.txt", "   \n\n  ", "document is empty"),
        ("bin.txt", b"\x00\x01\x02binary", "binary"),
        ("x.docx", "whatever", "unsupported file type"),
        ("broken.pdf", b"%PDF-1.4 truncated", "unreadable PDF"),
    ],
)
def test_bad_input_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as err:
        load_document(path)
    assert message in str(err.value) and "\n" not in str(err.value) and name in str(err.value)


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_documents([tmp_path / "nope.txt"])


def test_split_is_paragraph_aware_and_bounded():
    paras = [" ".join(f"word{i}_{j}" for j in range(40)) for i in range(6)]
    chunks = split_passages("\n\n".join(paras), max_tokens=120)
    assert all(len(c.split()) * 1.3 <= 121 for c in chunks)
    assert len(chunks) == 3  # two whole paragraphs fit per passage
    assert chunks[0].split("\n\n") == paras[:2]
    long = " ".join(f"Sentence number {i} is here." for i in range(100))
    assert all(len(c.split()) * 1.3 <= 61 for c in split_passages(long, max_tokens=60))
    assert split_passages("Same.\n\nSame.\n\nOther.", max_tokens=50) == ["Same.\n\nOther."]


def test_html_paragraphs():
    title, text = html_to_text("<title>X</title><div>One <b>bold</b> line</div><p>Two\nwrapped</p>")
    assert title == "X" and text == "One bold line\n\nTwo wrapped"


def test_questions_files_and_attach(tmp_path):
    (tmp_path / "q.txt").write_text("Who built it?\tSolveig Arneth\nQ: When did it open?\nA: 1934\n")
    qs = load_questions(tmp_path / "q.txt")
    assert [(q.question, q.answer, q.source) for q in qs] == [
        ("Who built it?", "Solveig Arneth", "user"),
        ("When did it open?", "1934", "user"),
    ]
    (tmp_path / "bad.txt").write_text("Q: dangling question\n")
    with pytest.raises(InputError, match="has no answer"):
        load_questions(tmp_path / "bad.txt")
    (tmp_path / "doc.txt").write_text(
        "The bridge was designed by Solveig Arneth.\n\n" + "x " * 400 + "\n\nIt opened in 1934."
    )
    doc = load_document(tmp_path / "doc.txt", max_tokens=100)
    attach(doc, qs)
    assert doc.passages[0].questions[0].answer == "Solveig Arneth"
    assert doc.passages[-1].questions[0].answer == "1934"
