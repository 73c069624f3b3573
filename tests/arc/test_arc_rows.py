"""ARC tasks from a table, one task a row (`id`, `train`, `test`): JSONL, Parquet, a Hugging Face data set id."""

from __future__ import annotations

import json

import pytest

from seal_desk.arc.task import load_tasks
from seal_desk.errors import InputError

ROWS = [
    {
        "id": "flip",
        "train": [{"input": [[1, 2]], "output": [[2, 1]]}, {"input": [[3, 4]], "output": [[4, 3]]}],
        "test": [{"input": [[5, 6]], "output": [[6, 5]]}],
    },
    {"id": "same", "train": [{"input": [[7]], "output": [[7]]}], "test": [{"input": [[8]], "output": [[8]]}]},
]


def check(tasks):
    assert [t.id for t in tasks] == ["flip", "same"]
    assert tasks[0].train[1].output == ((4, 3),) and tasks[0].test[0].output == ((6, 5),)
    assert all(t.solved_known for t in tasks)


def test_jsonl_and_parquet_rows(tmp_path):
    import datasets

    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    check(load_tasks(tmp_path / "tasks.jsonl"))
    datasets.Dataset.from_list(ROWS).to_parquet(str(tmp_path / "tasks.parquet"))
    check(load_tasks(tmp_path / "tasks.parquet"))


def test_hub_id_rows_and_a_missing_column(monkeypatch):
    import datasets

    from seal_desk.knowledge import data as kd

    monkeypatch.setattr(kd, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(
        datasets, "load_dataset", lambda name, config=None, split=None: datasets.Dataset.from_list(ROWS)
    )
    check(load_tasks("someone/arc-tasks:evaluation"))
    monkeypatch.setattr(
        datasets, "load_dataset", lambda name, config=None, split=None: datasets.Dataset.from_dict({"x": [1]})
    )
    with pytest.raises(InputError, match=r"someone/arc-tasks:evaluation: ARC rows need an id .* \(columns: x\)"):
        load_tasks("someone/arc-tasks:evaluation")


def test_missing_json_file_is_still_no_such_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_tasks(tmp_path / "missing_challenges.json")
    with pytest.raises(InputError, match="no such file"):
        load_tasks(tmp_path / "missing.parquet")
