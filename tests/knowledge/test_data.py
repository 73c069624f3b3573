"""`--data` specs (knowledge.data.load_data): SEAL/SQuAD JSON as before, tables through `datasets`, hub ids."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from seal_desk.errors import InputError
from seal_desk.knowledge import data as kd
from seal_desk.knowledge.data import Columns, load_data
from seal_desk.knowledge.documents import load_data_file
from tests.helpers import shared

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {
        "title": "Lake",
        "context": "Lake Quorra is 63 metres deep.",
        "question": "How deep is it?",
        "answer": "63 metres",
    },
    {"title": "Lake", "context": "Lake Quorra is 63 metres deep.", "question": "Which lake?", "answer": "Quorra"},
    {"title": "Bridge", "context": "The bridge opened in 1934.", "question": "When did it open?", "answer": "1934"},
]
EXPECTED = [
    ("Lake", "Lake Quorra is 63 metres deep.", [("How deep is it?", "63 metres"), ("Which lake?", "Quorra")]),
    ("Bridge", "The bridge opened in 1934.", [("When did it open?", "1934")]),
]
# SQuAD on the hub: answers are {text: [...], answer_start: [...]}
SQUAD_ROWS = {
    "id": ["1", "2", "3"],
    "title": ["Lake", "Lake", "Bridge"],
    "context": [r["context"] for r in ROWS],
    "question": [r["question"] for r in ROWS],
    "answers": [{"text": [r["answer"], "other"], "answer_start": [0, 0]} for r in ROWS],
}


def shape(passages):
    return [(p.title, p.text, [(q.question, q.answer) for q in p.questions]) for p in passages]


def write_csv(path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def same(path: Path) -> None:
    old, new = load_data_file(path), load_data(str(path))
    assert len(new) == len(old) > 0
    assert [(p.title, p.text, p.questions, p.self_edits) for p in old] == [
        (p.title, p.text, p.questions, p.self_edits) for p in new
    ]


@pytest.mark.parametrize("name", ["dev", "train"])
def test_seal_json_files_load_exactly_as_before(name):
    same(ROOT / "benchmarks" / "paraphrased" / f"{name}.json")


@pytest.mark.parametrize("name", ["dev_passages.json", "train_passages.json", "gpt41_implications_eval200.json"])
def test_shared_squad_files_load_exactly_as_before(name):
    same(shared(f"squad/{name}"))


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_tables_group_rows_sharing_a_context(tmp_path, kind):
    path = tmp_path / f"rows.{kind}"
    if kind in ("csv", "tsv"):
        write_csv(path, ROWS, "\t" if kind == "tsv" else ",")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    elif kind == "json":
        path.write_text(json.dumps(ROWS), encoding="utf-8")
    else:
        import datasets

        datasets.Dataset.from_list(ROWS).to_parquet(str(path))
    assert shape(load_data(str(path))) == EXPECTED


def test_column_mapping_and_default_title(tmp_path):
    rows = [{"para": r["context"], "q": r["question"], "a": r["answer"]} for r in ROWS]
    path = tmp_path / "mapped.csv"
    write_csv(path, rows)
    got = load_data(str(path), "context=para, question=q,answer=a")
    assert [(t, q) for _, t, q in shape(got)] == [(c, q) for _, c, q in EXPECTED]
    assert {p.title for p in got} == {"mapped"}  # no title column: the file's name
    with pytest.raises(InputError, match=r"no column 'topic' for title \(columns: para, q, a\)"):
        load_data(str(path), "context=para,question=q,answer=a,title=topic")
    with pytest.raises(InputError, match="no context column"):
        load_data(str(path))
    with pytest.raises(InputError, match="unknown field 'ctx'"):
        Columns.parse("ctx=passage")
    with pytest.raises(InputError, match="not FIELD=COLUMN"):
        Columns.parse("context")


def test_official_squad_file_and_unanswerable_questions(tmp_path):
    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "Lake",
                "paragraphs": [
                    {
                        "context": "Lake Quorra is 63 metres deep.",
                        "qas": [
                            {"question": "How deep is it?", "answers": [{"text": "63 metres", "answer_start": 14}]},
                            {"question": "Who owns it?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "dev-v2.0.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    assert shape(load_data(str(path))) == [
        ("Lake", "Lake Quorra is 63 metres deep.", [("How deep is it?", "63 metres")])
    ]


@pytest.mark.parametrize(
    "spec,message",
    [
        ("nope.json", "nope.json: no such file"),
        ("./data/none.csv", "no such file"),
        ("a b c", "not a Hugging Face data set id"),
    ],
)
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(InputError, match=message) as err:
        load_data(spec)
    assert "\n" not in str(err.value)


def test_broken_table_is_one_line(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="broken.parquet: cannot read as PARQUET") as err:
        load_data(str(path))
    assert "\n" not in str(err.value)


def test_hub_id_split_and_config_reach_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, config=None, split=None, **kwargs):
        calls.append((name, config, split))
        table = datasets.Dataset.from_dict(SQUAD_ROWS)
        return table if split else datasets.DatasetDict({"train": table, "validation": table})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: True)
    assert shape(load_data("rajpurkar/squad:validation")) == EXPECTED  # answers.text[0] is the answer
    load_data("rajpurkar/squad")
    load_data("hf:squad:plain_text:validation[:2]")
    assert calls == [
        ("rajpurkar/squad", None, "validation"),
        ("rajpurkar/squad", None, None),
        ("squad", "plain_text", "validation[:2]"),
    ]


@pytest.mark.parametrize("offline", [True, False])
def test_uncached_id_without_the_hub_is_one_line(monkeypatch, offline):
    import datasets

    def unreachable(name, config=None, split=None, **kwargs):
        assert datasets.config.HF_HUB_OFFLINE  # an unreachable hub: straight to the cache, no retries
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # HF_HUB_OFFLINE=1 in conftest sets both
        monkeypatch.setattr(datasets.config, flag, offline)
    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(InputError) as err:
        load_data("rajpurkar/squad:validation")
    assert str(err.value) == "rajpurkar/squad: not in the local datasets cache and the hub cannot be reached"
    assert datasets.config.HF_HUB_OFFLINE is offline  # restored


def fake_hub_cache(tmp_path, repo: str) -> Path:
    """The datasets cache as a hub download leaves it (owner___name/CONFIG/VERSION/HASH/name-split.arrow)."""
    import datasets

    source = tmp_path / "validation.parquet"
    datasets.Dataset.from_dict(SQUAD_ROWS).to_parquet(str(source))
    cache = tmp_path / "cache"
    datasets.load_dataset("parquet", data_files={"validation": str(source)}, cache_dir=str(cache))
    owner, name = repo.split("/")
    target = cache / f"{owner}___{name}"
    target.mkdir()
    shutil.move(str(next((cache / "parquet").iterdir())), str(target / "default"))
    for arrow in target.rglob("parquet-*.arrow"):
        arrow.rename(arrow.with_name(arrow.name.replace("parquet-", f"{name}-")))
    return cache


def test_cached_id_loads_offline_through_the_real_datasets_cache(tmp_path, monkeypatch, capfd):
    import datasets

    cache = fake_hub_cache(tmp_path, "someone/lakes")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setattr(datasets.config, flag, False)
    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: False)  # no hub: the cache answers at once
    capfd.readouterr()
    assert shape(load_data("someone/lakes:validation")) == EXPECTED
    assert shape(load_data("someone/lakes")) == EXPECTED  # the only split
    assert capfd.readouterr().err == ""  # no cache notes, no progress bars
    with pytest.raises(InputError, match="someone/other: not in the local datasets cache"):
        load_data("someone/other")
