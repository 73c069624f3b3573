"""`learn` takes tables and data set ids (with --data-columns), says what --generate-questions kept, and
--max-seq-len reaches the inner loop on the commands that train; bad values are one line before the model."""

import io
import json
import re
from collections import Counter

import pytest
from rich.console import Console

from seal_desk.cli.main import build_parser, main
from seal_desk.errors import InputError

FAST = ["--epochs", "1", "--max-new-tokens", "8", "--rank", "4", "--alpha", "8", "--no-save"]


@pytest.fixture
def no_model(monkeypatch):
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("seal_desk.model.loader.load", load)
    monkeypatch.setattr("seal_desk.knowledge.data.hub_reachable", lambda timeout=3.0: False)


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no local folder named like a data set's owner
    (tmp_path / "rows.csv").write_text(
        "topic,passage,q,a\n"
        "Lake,Lake Quorra is 63 metres deep.,How deep is Lake Quorra?,63 metres\n"
        "Bridge,The Velmora bridge opened in 1934.,When did the bridge open?,1934\n",
        encoding="utf-8",
    )
    (tmp_path / "note.txt").write_text("Zorblat Industries was founded in 1987 by Mira Kostadinova.", encoding="utf-8")
    return tmp_path


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seal-desk: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["learn", "rows.csv", "--data-columns", "context=para"], "rows.csv: no column 'para' for context"),
        (["learn", "note.txt", "--data-columns", "contxt=passage"], "--data-columns: unknown field 'contxt'"),
        (
            ["learn", "someone/not-cached:validation"],
            "someone/not-cached: not in the local datasets cache and the hub cannot be reached",
        ),
        (["eval", "someone/not-cached"], "not in the local datasets cache"),
        (["learn", "notes/typo.md"], "notes/typo.md: no such file or folder"),
        (["learn", "note.txt", "--max-seq-len", "8"], "--max-seq-len must be at least 32 tokens (got 8)"),
        (["bench", "knowledge", "--data", "rows.csv", "--max-seq-len", "31"], "--max-seq-len must be at least 32"),
        (["rl", "--data", "rows.csv", "--out", "run", "--max-seq-len", "0"], "--max-seq-len must be at least 32"),
        (["arc", "bench", "--challenges", "tasks.json", "--max-seq-len", "16"], "--max-seq-len must be at least 32"),
    ],
)
def test_bad_input_fails_before_the_model_loads(argv, message, inputs, no_model, capsys):
    assert main(["-m", "tiny-random", "-w", str(inputs / "ws"), *argv]) == 2
    assert message in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv",
    [
        ["learn", "notes.md"],
        ["bench", "knowledge", "--data", "d.json"],
        ["bench", "continual", "--data", "d.json"],
        ["rl", "--data", "d.json", "--out", "run"],
        ["learner", "--data", "d.json", "--out", "l"],
        ["update", "docs"],
    ],
)
def test_max_seq_len_is_an_inner_loop_setting(argv):
    from seal_desk.cli.setup import flags

    args = build_parser().parse_args([*argv, "--max-seq-len", "256"])
    assert flags(args)["inner"]["max_seq_len"] == 256
    assert "max_seq_len" not in flags(build_parser().parse_args(argv))["inner"]  # unset: the config's own


@pytest.mark.parametrize("command", ["solve", "bench", "rl"])
def test_arc_max_seq_len_bounds_an_episode(command):
    from seal_desk.cli.arc import settings_from
    from seal_desk.config import FewShotConfig

    where = {"solve": ["tasks.json"], "bench": ["--challenges", "t.json"], "rl": ["--challenges", "t", "--out", "o"]}
    args = build_parser().parse_args(["arc", command, *where[command], "--max-seq-len", "512"])
    assert settings_from(args).max_seq_len == 512
    args = build_parser().parse_args(["arc", command, *where[command]])
    assert settings_from(args).max_seq_len == FewShotConfig().max_seq_len


def test_a_config_layer_below_32_is_refused_too():
    from seal_desk.cli.setup import check
    from seal_desk.config import InnerLoopConfig, SealConfig

    with pytest.raises(InputError, match=r"^--max-seq-len must be at least 32 tokens \(got 16\)$"):
        check(SealConfig(inner=InnerLoopConfig(max_seq_len=16)))
    check(SealConfig(inner=InnerLoopConfig(max_seq_len=32)))


def test_generate_questions_prints_what_was_kept_and_dropped():
    from seal_desk.cli.learn import _write_questions
    from seal_desk.knowledge.documents import Document, Passage, Question
    from seal_desk.knowledge.question_writer import DUPLICATE, NOT_IN_PASSAGE, WrittenQuestions

    class Engine:
        def write_questions(self, passage, n, existing):
            if passage.title == "one":
                return WrittenQuestions(
                    [Question("Q1?", "a", "generated"), Question("Fill in: ____", "b", "cloze")],
                    3,
                    1,
                    1,
                    Counter({NOT_IN_PASSAGE: 1, DUPLICATE: 1}),
                )
            return WrittenQuestions([Question("Fill in: ____ 2", "c", "cloze")], 0, 0, 1)

    doc = Document("d.txt", "Doc [1]", [Passage("one", "text one"), Passage("two", "text two")])
    buffer = io.StringIO()
    _write_questions(doc, Engine(), 2, Console(file=buffer, width=300))
    assert buffer.getvalue().strip() == (
        "Doc [1]: wrote 3 question(s): 1 checked model question(s), 2 cloze; "
        "dropped 2 (1 answer not in the passage, 1 duplicate)"
    )
    assert [len(p.questions) for p in doc.passages] == [2, 1]


def test_learn_a_table_and_a_note_with_written_questions(inputs, capsys):
    """End to end on the tiny model: each table row's passage a document with its question; the note gets
    written questions and one line saying what was kept."""
    argv = ["-m", "tiny-random", "-w", str(inputs / "ws"), "learn", "rows.csv", "note.txt"]
    argv += ["--data-columns", "context=passage,question=q,answer=a,title=topic", "--generate-questions", "2"]
    assert main([*argv, "--max-seq-len", "64", "--json", *FAST]) == 0
    captured = capsys.readouterr()
    results = json.loads(captured.out)["results"]
    assert [(r["title"], r["questions"]) for r in results][:2] == [("Lake", 1), ("Bridge", 1)]
    assert len(results) == 3 and results[0]["document"].endswith("rows.csv")
    assert re.search(r"note: wrote \d+ question\(s\): \d+ checked model question\(s\), \d+ cloze", captured.err)
