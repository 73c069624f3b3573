"""What `learn` and the Library take (knowledge.inputs): documents as before, tables and data set ids through
load_data, one document per passage with its questions; every problem one line, before a model loads."""

import json

import pytest

from seal_desk.errors import InputError
from seal_desk.knowledge import data as kd
from seal_desk.knowledge.data import looks_like_hub_id
from seal_desk.knowledge.inputs import is_data_set, load_inputs, read_inputs

ROWS = [
    ("Lake", "Lake Quorra is 63 metres deep.", "How deep is it?", "63 metres"),
    ("Lake", "Lake Quorra is 63 metres deep.", "Which lake?", "Quorra"),
    ("Lake", "The bridge opened in 1934.", "When did it open?", "1934"),
]
EXPECTED = [
    ("Lake", "Lake Quorra is 63 metres deep.", [("How deep is it?", "63 metres"), ("Which lake?", "Quorra")]),
    ("Lake (2)", "The bridge opened in 1934.", [("When did it open?", "1934")]),
]


def shape(sources):
    return [(s.title, s.passages[0].text, [(q.question, q.answer) for q in s.passages[0].questions]) for s in sources]


def table(path, header=("title", "context", "question", "answer"), sep=","):
    lines = [sep.join(header)] + [sep.join(row) for row in ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name,sep", [("rows.csv", ","), ("rows.tsv", "\t")])
def test_table_is_one_document_per_passage_with_its_questions(tmp_path, name, sep):
    path = table(tmp_path / name, sep=sep)
    sources = read_inputs([str(path)])
    assert shape(sources) == EXPECTED  # a repeated title is numbered
    assert all(s.path == str(path) and len(s.passages) == 1 for s in sources)
    docs = load_inputs([str(path)])
    assert [d.n_questions for d in docs] == [2, 1]


def test_json_rows_are_a_table_but_seal_json_stays_one_document(tmp_path):
    flat = tmp_path / "flat.jsonl"
    flat.write_text("\n".join(json.dumps(dict(zip(("title", "context", "question", "answer"), r))) for r in ROWS))
    assert shape(read_inputs([flat])) == EXPECTED
    seal = tmp_path / "seal.json"
    seal.write_text(
        json.dumps([{"title": t, "context": c, "questions": [{"question": q, "answer": a}]} for t, c, q, a in ROWS[1:]])
    )
    assert not is_data_set(seal)
    [source] = read_inputs([seal])
    assert len(source.passages) == 2 and source.title == "seal"


def test_column_mapping_and_documents_side_by_side(tmp_path):
    path = table(tmp_path / "qa.csv", header=("topic", "passage", "q", "a"))
    note = tmp_path / "note.md"
    note.write_text("# Tide clock\n\nThe tide clock in Velmora runs backwards.", encoding="utf-8")
    unmapped = read_inputs([path])  # `passage` is a default context name; `q`, `a` and `topic` are not
    assert [(s.title, s.passages[0].questions) for s in unmapped] == [("qa", []), ("qa (2)", [])]
    sources = read_inputs([note, path], "context=passage,question=q,answer=a,title=topic")
    assert [s.title for s in sources] == ["Tide clock", "Lake", "Lake (2)"]
    assert shape(sources[1:]) == EXPECTED
    with pytest.raises(InputError, match=r"^--data-columns: unknown field 'contxt'"):
        read_inputs([note], "contxt=passage")  # a bad mapping fails even with no table named


def test_data_set_id_reaches_load_dataset(monkeypatch, tmp_path):
    import datasets

    calls = []

    def fake_load_dataset(name, config=None, split=None, **kwargs):
        calls.append((name, config, split))
        columns = list(zip(*ROWS))
        return datasets.Dataset.from_dict(
            {
                "title": list(columns[0]),
                "context": list(columns[1]),
                "question": list(columns[2]),
                "answers": [{"text": [a], "answer_start": [0]} for a in columns[3]],
            }
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.chdir(tmp_path)  # no local folder `someone`
    sources = read_inputs(["someone/lakes:validation[:3]"])
    assert calls == [("someone/lakes", None, "validation[:3]")]
    assert shape(sources) == EXPECTED and {s.path for s in sources} == {"someone/lakes:validation[:3]"}


def test_uncached_id_offline_is_one_line(monkeypatch, tmp_path):
    import datasets

    def unreachable(name, config=None, split=None, **kwargs):
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        read_inputs(["someone/not-cached:validation"])
    assert str(err.value) == "someone/not-cached: not in the local datasets cache and the hub cannot be reached"


def test_what_counts_as_a_data_set_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    assert looks_like_hub_id("rajpurkar/squad") and looks_like_hub_id("rajpurkar/squad:validation[:20]")
    assert looks_like_hub_id("hf:squad") and looks_like_hub_id("owner/name:config:split")
    for path in ("notes", "notes/missing.md", "docs/missing", "./a/b", "a/b/c", "~/x", "rows.csv", "owner/x.pdf"):
        assert not looks_like_hub_id(path), path
    for path in ("docs/missing", "notes/missing.md", "notes"):
        with pytest.raises(InputError, match="no such file or folder$"):
            read_inputs([path])  # typos in paths stay path errors, no hub lookup


def test_folders_are_scanned_for_documents_only(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "note.txt").write_text("The tide clock in Velmora runs backwards.", encoding="utf-8")
    table(folder / "rows.csv")
    assert [s.title for s in read_inputs([folder])] == ["note"]
