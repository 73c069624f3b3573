"""Text documents and questions files in the common encodings decode to the same text; binary files are refused."""

import codecs

import pytest

from seal_desk.errors import InputError
from seal_desk.knowledge.documents import decode_text, load_document
from seal_desk.knowledge.questions import load_questions

TEXT = (
    "# Café Müller\n\n"
    "The café in Zürich sells a croissant for 3 € and calls it “the best in town”.\n\n"
    "Its owner, Jürgen Weiß, opened it in 1987 after a year in Besançon.\n"
)
LATIN1_TEXT = "Café crème in Zürich: Jürgen Weiß opened it in 1987 after a year in Besançon; naïve façade.\n"
QUESTIONS = "Who opened the café?\tJürgen Weiß\nWhat does a croissant cost?\t3 €\n"

ENCODINGS = {
    "utf-8": lambda t: t.encode("utf-8"),
    "utf-8 with BOM": lambda t: t.encode("utf-8-sig"),
    "utf-16 with BOM": lambda t: t.encode("utf-16"),  # the machine's order, with its mark
    "utf-16-le with BOM": lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
    "utf-16-be with BOM": lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    "utf-32 with BOM": lambda t: t.encode("utf-32"),
    "windows-1252": lambda t: t.encode("cp1252"),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_document_in_each_encoding(tmp_path, encoding):
    path = tmp_path / "cafe.md"
    path.write_bytes(ENCODINGS[encoding](TEXT))
    doc = load_document(path)
    assert doc.title == "Café Müller"
    text = doc.passages[0].text
    assert "3 €" in text and "“the best in town”" in text and "Jürgen Weiß" in text and "Besançon" in text


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_questions_file_in_each_encoding(tmp_path, encoding):
    path = tmp_path / "q.txt"
    path.write_bytes(ENCODINGS[encoding](QUESTIONS))
    assert [(q.question, q.answer) for q in load_questions(path)] == [
        ("Who opened the café?", "Jürgen Weiß"),
        ("What does a croissant cost?", "3 €"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        LATIN1_TEXT,
        "Café\n",
        "Prix: 5 €, “cité”\n",
        "Who found it?\tJoão\n",  # each of these read as Chinese or Korean before
        "Übung macht den Meister.\n",
        "Køb",
        "São Paulo",
    ],
)
def test_latin1_and_short_western_text(text):
    """Short single-byte text fits several code pages equally well: Windows-1252 / Latin-1 is preferred."""
    raw = text.encode("cp1252")
    assert decode_text(raw) == text
    if "€" not in text and "“" not in text:
        assert decode_text(text.encode("latin-1")) == text


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("北京是中国的首都，也是一座历史悠久的城市。", "gb2312"),
        ("東京は日本の首都です。", "shift_jis"),
        ("서울은 한국의 수도입니다.", "euc_kr"),
    ],
)
def test_east_asian_text_stays_east_asian(text, encoding):
    assert decode_text(text.encode(encoding)) == text


def test_other_single_byte_encodings_are_not_forced_to_western():
    text = "Привет, мир! Это тестовый документ о Москве и её истории. Город основан в 1147 году.\n"
    assert decode_text(text.encode("cp1251")) == text


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02binary",
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200)),
        b"\x1f\x8b\x08\x00" + bytes([200, 13, 7, 255, 1, 99, 180, 250] * 40),  # gzip-like, no NUL after the header
    ],
)
def test_binary_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "data.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match="binary") as err:
        load_document(path)
    assert "\n" not in str(err.value) and "data.txt" in str(err.value)
