"""ARC loading: tasks, solutions found next to the challenges, one-line errors for bad files and grids."""

from __future__ import annotations

import json

import pytest

from seal_desk.arc.task import check_grid, load_tasks, pick
from seal_desk.errors import InputError
from tests.arc.arc_helpers import constant_task, flip_task, write_challenges
from tests.helpers import shared


def test_loads_tasks_and_finds_the_sibling_solutions(tmp_path):
    write_challenges(
        tmp_path / "mini_challenges.json", [constant_task(), flip_task()], tmp_path / "mini_solutions.json"
    )
    tasks = load_tasks(tmp_path / "mini_challenges.json")
    assert [t.id for t in tasks] == ["const3", "flip"]
    assert tasks[1].train == flip_task().train and tasks[1].test == flip_task().test
    assert all(t.solved_known for t in tasks)
    assert pick(tasks, "flip") is tasks[1] and pick(tasks, None) is tasks[0]
    with pytest.raises(InputError, match="no task 'nope'"):
        pick(tasks, "nope")


def test_without_solutions_outputs_are_unknown(tmp_path):
    write_challenges(tmp_path / "tasks.json", [flip_task()])
    (task,) = load_tasks(tmp_path / "tasks.json")
    assert task.test[0].output is None and not task.solved_known


def test_explicit_solutions_file_and_single_task_file(tmp_path):
    write_challenges(tmp_path / "a.json", [flip_task()], tmp_path / "answers.json")
    (task,) = load_tasks(tmp_path / "a.json", tmp_path / "answers.json")
    assert task.solved_known
    one = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}
    (tmp_path / "abc123.json").write_text(json.dumps(one))
    (single,) = load_tasks(tmp_path / "abc123.json")
    assert single.id == "abc123" and single.test[0].output == ((4,),)


def test_content_hash_identifies_a_task():
    assert constant_task().sha256 == constant_task().sha256 != flip_task().sha256


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "no such file"),
        ('{"t": {"train": ', "malformed JSON"),
        ("[1, 2]", "expected an object mapping task ids"),
        ('{"t": {"train": []}}', "needs both 'train' and 'test'"),
        ('{"t": {"train": [], "test": [{"input": [[1]]}]}}', "non-empty list"),
        ('{"t": {"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}}', "demonstration has no 'output'"),
        (
            '{"t": {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]]}]}}',
            "different lengths",
        ),
        ('{"t": {"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]]}]}}', "not an integer 0–9"),
        ('{"t": {"train": [{"input": [[true]], "output": [[1]]}], "test": [{"input": [[1]]}]}}', "not an integer 0–9"),
        ('{"t": {"train": [{"input": [], "output": [[1]]}], "test": [{"input": [[1]]}]}}', "non-empty list of rows"),
        ('{"t": {"train": [{"input": "12", "output": [[1]]}], "test": [{"input": [[1]]}]}}', "non-empty list of rows"),
    ],
)
def test_bad_files_are_one_line_input_errors(tmp_path, content, message):
    path = tmp_path / "bad_challenges.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_tasks(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_bad_solutions_are_input_errors(tmp_path):
    write_challenges(tmp_path / "x_challenges.json", [flip_task()])
    (tmp_path / "x_solutions.json").write_text(json.dumps({"flip": [[[1]], [[2]]]}))
    with pytest.raises(InputError, match="needs 1 output grid"):
        load_tasks(tmp_path / "x_challenges.json")
    (tmp_path / "x_solutions.json").write_text(json.dumps({"flip": [[[1, 2], [3]]]}))
    with pytest.raises(InputError, match="different lengths"):
        load_tasks(tmp_path / "x_challenges.json")


def test_grids_larger_than_30_are_refused():
    check_grid([[0] * 30] * 30, "g")
    with pytest.raises(InputError, match="larger than ARC's 30×30"):
        check_grid([[0] * 31], "g")


def test_seal_filtered_sets_load_with_their_solutions():
    evaluation = load_tasks(shared("arc/arc-agi_evaluation_challenges_filtered_1B_eval_set.json"))
    training = load_tasks(shared("arc/arc-agi_training_challenges_filtered_1B_training_set.json"))
    assert len(evaluation) == 10 and len(training) == 12
    assert all(t.solved_known for t in evaluation + training)
    assert not {t.id for t in evaluation} & {t.id for t in training}
