"""The bad-input corpus of the command line: every case ends with one line on stderr (`seal-desk: error: ...`),
exit code 2, no traceback, and the workspace exactly as it was (every table row and every file, compared)."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hardening_helpers import FAST, ROOT, TINY, dump, one_line_error, record

from seal_desk.cli.main import main

ARC = ROOT / "tests" / "tui" / "data" / "arc_challenges.json"


def _settings(**values):
    """Saved settings, as the TUI's Settings tab writes them (a saved "model" is used instead of -m)."""

    def setup(ws: Path, _inputs: Path, _monkeypatch) -> None:
        with sqlite3.connect(ws / "workspace.db") as db:
            for key, value in values.items():
                db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?,?)", (key, json.dumps(value)))

    setup.saved_model = "model" in values
    return setup


def _schema(version: int):
    def setup(ws: Path, _inputs: Path, _monkeypatch) -> None:
        with sqlite3.connect(ws / "workspace.db") as db:
            db.execute(f"PRAGMA user_version = {version}")

    return setup


def _bad_presets(_ws: Path, inputs: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEAL_DESK_PRESETS", str(inputs / "presets"))


# (case, argv; {d}: the inputs folder, {ws}: the workspace; the text the error line holds; setup or None).
# Every argv gets "-m tiny-random" first and "-w {ws}" unless it names its own -w.
CASES = [
    # documents
    ("missing file", ["learn", "{d}/missing.txt"], "missing.txt: no such file", None),
    ("binary file (NUL bytes)", ["learn", "{d}/bin.txt"], "looks like a binary file", None),
    ("binary file (no text encoding fits)", ["learn", "{d}/high.txt"], "no text encoding fits", None),
    (  # --k 0: an error about the flags means the file was taken as text
        "binary file (control bytes, no NUL)",
        ["learn", "{d}/control.txt", "--k", "0"],
        "looks like a binary file",
        None,
    ),
    ("empty file", ["learn", "{d}/empty.txt"], "empty.txt: document is empty", None),
    ("whitespace-only Markdown", ["learn", "{d}/blank.md"], "blank.md: document is empty", None),
    ("truncated UTF-16 (byte-order mark)", ["learn", "{d}/utf16.txt"], "not valid UTF-16 text", None),
    ("unsupported file type", ["learn", "{d}/notes.xyz"], "unsupported file type '.xyz'", None),
    ("folder of symlink loops only", ["learn", "{d}/loops"], "loops: folder has no supported documents", None),
    ("corrupt PDF", ["learn", "{d}/broken.pdf"], "broken.pdf: unreadable PDF", None),
    ("malformed JSON", ["learn", "{d}/bad.json"], "malformed JSON", None),
    ("JSON that is not a list", ["learn", "{d}/number.json"], "expected a list of passages", None),
    ("JSON entry without context", ["learn", "{d}/nocontext.json"], "entry has no 'context' text", None),
    ("JSONL with a broken line", ["learn", "{d}/broken.jsonl"], "broken.jsonl:2: malformed JSON", None),
    # questions files
    ("questions file missing", ["learn", "{d}/doc.txt", "-q", "{d}/nope.txt"], "nope.txt: no such questions", None),
    ("question without answer", ["learn", "{d}/doc.txt", "-q", "{d}/noanswer.txt"], "has no answer", None),
    ("empty questions file", ["learn", "{d}/doc.txt", "-q", "{d}/empty.txt"], "no questions found", None),
    ("binary questions file", ["learn", "{d}/doc.txt", "-q", "{d}/bin.txt"], "looks like a binary file", None),
    (
        "questions for two documents",
        ["learn", "{d}/doc.txt", "{d}/data.json", "-q", "{d}/q.txt"],
        "--questions needs exactly one document",
        None,
    ),
    # flags and saved settings
    ("--epochs 0", ["learn", "{d}/doc.txt", "--epochs", "0"], "--epochs must be at least 1", None),
    ("--epochs not a number", ["learn", "{d}/doc.txt", "--epochs", "abc"], "invalid int value: 'abc'", None),
    ("--lr negative", ["learn", "{d}/doc.txt", "--lr", "-1"], "--lr must be above 0", None),
    ("--rank negative", ["learn", "{d}/doc.txt", "--rank", "-4"], "--rank must be at least 1", None),
    ("--alpha negative", ["learn", "{d}/doc.txt", "--alpha", "-3"], "--alpha must be at least 1", None),
    ("--temperature negative", ["learn", "{d}/doc.txt", "--temperature", "-1"], "--temperature must be 0", None),
    ("--max-new-tokens negative", ["learn", "{d}/doc.txt", "--max-new-tokens", "-5"], "--max-new-tokens", None),
    ("--generate-questions negative", ["learn", "{d}/doc.txt", "--generate-questions", "-1"], "at least 0", None),
    ("--min-grounding over 1", ["learn", "{d}/doc.txt", "--min-grounding", "2"], "between 0 and 1", None),
    ("unknown self-edit format", ["learn", "{d}/doc.txt", "--format", "sonnet"], "unknown self-edit format", None),
    ("unknown choice", ["learn", "{d}/doc.txt", "--optimizer", "sgd"], "invalid choice: 'sgd'", None),
    (
        "saved settings: epochs 0",
        ["learn", "{d}/doc.txt"],
        "--epochs must be at least 1",
        _settings(**{"config/tiny-random": {"inner": {"epochs": 0}}}),
    ),
    (
        "saved settings: lr not a number",
        ["learn", "{d}/doc.txt"],
        "--lr must be a number, not 'fast'",
        _settings(**{"config/tiny-random": {"inner": {"lr": "fast"}}}),
    ),
    (
        "saved settings: stop-loss not a number",
        ["learn", "{d}/doc.txt"],
        "--stop-loss must be a number, not 'low'",
        _settings(**{"config/tiny-random": {"inner": {"stop_loss": "low"}}}),
    ),
    (
        "saved settings: max-seq-len a string",
        ["learn", "{d}/doc.txt"],
        "--max-seq-len must be a number, not '512'",
        _settings(**{"config/tiny-random": {"inner": {"max_seq_len": "512"}}}),
    ),
    ("saved settings: unknown model", ["learn", "{d}/doc.txt"], "unknown model", _settings(model="no-such-model")),
    # models and presets
    ("unknown model", ["-m", "no-such-model", "learn", "{d}/doc.txt"], "unknown model 'no-such-model'", None),
    ("missing GGUF file", ["-m", "{d}/nowhere.gguf", "learn", "{d}/doc.txt"], "no such file", None),
    ("malformed preset TOML", ["models"], "unreadable preset", _bad_presets),
    ("--vram negative", ["models", "--vram", "-1"], "--vram must be a positive number", None),
    ("--seq-len 0", ["models", "--vram", "8", "--seq-len", "0"], "must be at least 1", None),
    ("learner path with ..", ["--learner", "../../nowhere", "learn", "{d}/doc.txt"], "not a seal-desk learner", None),
    # adapters and export
    ("adapter id unknown", ["adapters", "delete", "99"], "no adapter with id 99", None),
    ("adapter id missing", ["adapters", "delete"], "adapters delete needs an adapter id", None),
    ("adapter id not a number", ["adapters", "delete", "../1"], "invalid int value: '../1'", None),
    ("export without --to", ["adapters", "export", "1"], "adapters export needs --to FOLDER", None),
    ("export onto a file", ["adapters", "export", "1", "--to", "{d}/doc.txt"], "exists and is not a folder", None),
    ("export into a full folder", ["adapters", "export", "1", "--to", "{d}/loops"], "is not empty", None),
    ("eval with unknown adapter", ["eval", "{d}/doc.txt", "-q", "{d}/q.txt", "--adapter", "7"], "no adapter", None),
    # the workspace itself
    ("workspace is a file", ["-w", "{d}/doc.txt", "adapters"], "cannot create workspace", None),
    ("workspace database corrupt", ["-w", "{d}/corrupt", "adapters"], "not a usable workspace database", None),
    ("workspace from a newer seal-desk", ["adapters"], "newer than this seal-desk", _schema(99)),
    # benchmarks, outer loop, learner
    ("bench data missing", ["bench", "knowledge", "--data", "{d}/gone.json"], "gone.json: no such file", None),
    ("bench data of documents", ["bench", "knowledge", "--data", "{d}/doc.txt"], "unsupported data file", None),
    (
        "bench unknown condition",
        ["bench", "knowledge", "--data", "{d}/data.json", "--conditions", "x"],
        "unknown condition(s) x",
        None,
    ),
    ("bench table of a non-result", ["bench", "table", "{d}/data.json"], "not a `bench knowledge --json`", None),
    (
        "bench continual --sequence 0",
        ["bench", "continual", "--data", "{d}/data.json", "--sequence", "0"],
        "--sequence must be at least 1",
        None,
    ),
    ("bench speed --candidates 0", ["bench", "speed", "--candidates", "0", "--compare-serial"], "at least 1", None),
    ("rl --out is a file", ["rl", "--data", "{d}/data.json", "--out", "{d}/doc.txt"], "is not a folder", None),
    ("rl --rounds 0", ["rl", "--data", "{d}/data.json", "--out", "{d}/run", "--rounds", "0"], "--rounds", None),
    ("rl --sft-lr negative", ["rl", "--data", "{d}/data.json", "--out", "{d}/run", "--sft-lr", "-1"], "--sft-lr", None),
    (
        "learner --out a full folder",
        ["learner", "--data", "{d}/data.json", "--out", "{d}/loops"],
        "exists and is not a learner folder",
        None,
    ),
    # ARC
    ("ARC grid with ragged rows", ["arc", "show", "{d}/ragged.json"], "rows have different lengths", None),
    ("ARC file not an object", ["arc", "show", "{d}/number.json"], "expected an object mapping task ids", None),
    ("ARC task id unknown", ["arc", "show", str(ARC), "--task", "nope"], "no task 'nope'", None),
    ("ARC config not JSON", ["arc", "solve", str(ARC), "--config", "{{bad"], "not a usable config", None),
    ("ARC --leave-out not numbers", ["arc", "solve", str(ARC), "--leave-out", "x"], "--leave-out takes", None),
    ("arc rl --out is a file", ["arc", "rl", "--challenges", str(ARC), "--out", "{d}/doc.txt"], "not a folder", None),
    # update
    ("update folder missing", ["update", "{d}/nowhere"], "nowhere: no such file or folder", None),
    ("update folder of symlink loops", ["update", "{d}/loops"], "folder has no supported documents", None),
    ("update --replay-budget negative", ["update", "{d}/docs", "--replay-budget", "-1"], "--replay-budget", None),
]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """A workspace holding one learned document and its adapter (#1), built once; each case gets a copy."""
    from seal_desk.config import InnerLoopConfig, LoraSettings, SealConfig, SelfEditConfig
    from seal_desk.engine import Engine
    from seal_desk.knowledge.documents import Document, Passage, Question
    from seal_desk.model.loader import load_tiny
    from seal_desk.workspace.database import Workspace

    folder = tmp_path_factory.mktemp("learned") / "ws"
    ws = Workspace(folder)
    config = SealConfig(
        inner=InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=1), self_edit=SelfEditConfig(max_new_tokens=8)
    )
    passage = Passage("Lake", "Lake Quorra is 63 metres deep.", [Question("How deep is Lake Quorra?", "63 metres")])
    Engine(load_tiny(), ws, config).learn(Document("lake.txt", "Lake", [passage]))
    ws.set_setting("model", "tiny-random")
    ws.close()
    return folder


@pytest.fixture
def inputs(tmp_path):
    """Every bad (and a few good) input file of the corpus."""
    d = tmp_path / "in"
    d.mkdir()
    rng = random.Random(1)
    (d / "doc.txt").write_text("Lake Quorra is 63 metres deep.\n", encoding="utf-8")
    (d / "q.txt").write_text("How deep is Lake Quorra?\t63 metres\n", encoding="utf-8")
    (d / "noanswer.txt").write_text("Q: a question without its answer\n", encoding="utf-8")
    (d / "bin.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(256) for _ in range(512)))
    (d / "high.txt").write_bytes(bytes(rng.randrange(128, 256) for _ in range(3000)))
    (d / "control.txt").write_bytes(bytes(rng.randrange(1, 32) for _ in range(3000)))
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.md").write_text("  \n\n\t\n", encoding="utf-8")
    (d / "utf16.txt").write_bytes(b"\xff\xfe" + "Lake".encode("utf-16-le") + b"Q")
    (d / "notes.xyz").write_text("hello", encoding="utf-8")
    (d / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (d / "bad.json").write_text('[{"title": "x", ', encoding="utf-8")
    (d / "number.json").write_text("42", encoding="utf-8")
    (d / "nocontext.json").write_text('[{"title": "x"}]', encoding="utf-8")
    (d / "broken.jsonl").write_text('{"context": "a"}\n{"context": \n', encoding="utf-8")
    (d / "data.json").write_text(
        json.dumps(
            [{"title": "L", "context": "Lake Quorra is deep.", "questions": [{"question": "Q?", "answer": "A"}]}]
        )
    )
    (d / "ragged.json").write_text('{"t1": {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": []}}')
    loops = d / "loops"
    loops.mkdir()
    for name, target in (("self", "self"), ("up", ".."), ("here", ".")):
        os.symlink(target, loops / name)
    (d / "docs").mkdir()
    (d / "docs" / "a.txt").write_text("Velmora was founded in 1802.\n", encoding="utf-8")
    (d / "corrupt").mkdir()
    (d / "corrupt" / "workspace.db").write_bytes(b"this is not sqlite" * 100)
    (d / "presets").mkdir()
    (d / "presets" / "broken.toml").write_text('name = "broken\nhf_id = [', encoding="utf-8")
    return d


MESSAGES = {c[0]: c[2] for c in CASES}
KNOWN_GAPS: dict[str, str] = {}  # cases that fail today, with the reason (strict xfail)


def _xfail(case: str) -> list:
    return [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[case])] if case in KNOWN_GAPS else []


@pytest.mark.parametrize("case,argv,message,setup", [pytest.param(*c, id=c[0], marks=_xfail(c[0])) for c in CASES])
def test_bad_input_is_one_line_exit_2_workspace_unchanged(
    case, argv, message, setup, learned, inputs, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("seal_desk.knowledge.data.hub_reachable", lambda timeout=3.0: False)
    ws = tmp_path / "ws"
    shutil.copytree(learned, ws)
    if setup is not None:
        setup(ws, inputs, monkeypatch)
    argv = [a.format(d=inputs, ws=ws) for a in argv]
    if "-w" not in argv:
        argv = ["-w", str(ws), *argv]
    target = Path(argv[argv.index("-w") + 1])
    if "-m" not in argv and not getattr(setup, "saved_model", False):
        argv = [*TINY, *argv]
    before = dump(target)
    code = main(argv)
    line = one_line_error(capsys.readouterr().err)
    unchanged = dump(target) == before
    record(
        "cli",
        case,
        " ".join(a.replace(str(inputs), "IN").replace(str(ws), "WS") for a in argv[2:]),
        code,
        line,
        unchanged,
    )
    assert code == 2
    assert message in line, line
    assert unchanged, "the workspace changed"


@pytest.mark.slow
def test_bad_input_from_real_processes(learned, inputs, tmp_path, runner):
    """A few cases as real processes (runner.py): exit code 2 and one line on the process's own stderr."""
    cases = {
        "--epochs not a number": ["learn", "{d}/doc.txt", "--epochs", "abc"],
        "--lr negative": ["learn", "{d}/doc.txt", "--lr", "-1"],
        "export onto a file": ["adapters", "export", "1", "--to", "{d}/doc.txt"],
        "rl --out is a file": ["rl", "--data", "{d}/data.json", "--out", "{d}/doc.txt"],
        "workspace database corrupt": ["-w", "{d}/corrupt", "adapters"],
    }
    ws = tmp_path / "ws"
    shutil.copytree(learned, ws)
    before = dump(ws)
    jobs = [{"argv": [*TINY, "-w", ws, *(a.format(d=inputs) for a in argv)]} for argv in cases.values()]
    for case, result in zip(cases, runner.run(*jobs)):
        assert result.code == 2, (case, result.err)
        assert MESSAGES[case] in one_line_error(result.err), case
    assert dump(ws) == before


def test_update_while_another_update_runs_is_one_line(learned, inputs, tmp_path, capsys):
    from seal_desk.workspace.lock import exclusive

    ws = tmp_path / "ws"
    shutil.copytree(learned, ws)
    before = dump(ws)
    with exclusive(ws / "update.lock", "seal-desk update"):
        code = main([*TINY, "-w", str(ws), "update", str(inputs / "docs")])
    assert code == 2 and "already running on this workspace" in one_line_error(capsys.readouterr().err)
    assert dump(ws) == before


def test_a_title_with_path_separators_names_a_folder_inside_adapters(tmp_path, capsys):
    """Adapter folders are named after the document's title: `..` and slashes cannot leave adapters/."""
    doc = tmp_path / "escape.md"
    doc.write_text("# ../../../outside/..\\evil\n\nLake Quorra is 63 metres deep.\n", encoding="utf-8")
    ws = tmp_path / "deep" / "ws"
    assert main([*TINY, "-w", str(ws), "learn", str(doc), "--json", *FAST]) == 0
    path = Path(json.loads(capsys.readouterr().out)["results"][0]["adapter_path"])
    assert path.parent == ws.resolve() / "adapters" and ".." not in path.name and "\\" not in path.name
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["ws"]


def test_symlink_loops_in_a_folder_are_not_followed(inputs):
    from seal_desk.knowledge.documents import iter_files

    (inputs / "loops" / "doc.txt").write_text("Lake Quorra is 63 metres deep.\n", encoding="utf-8")
    assert [p.name for p in iter_files([inputs / "loops"])] == ["doc.txt"]


@pytest.mark.slow
def test_a_50_mb_text_is_refused_at_once_in_bounded_memory(tmp_path):
    big = tmp_path / "big.txt"
    para = "Lake Quorra is 63 metres deep and lies north of Velmora, a town founded in 1802. " * 8
    with big.open("w", encoding="utf-8") as fh:
        for i in range(50 * 2**20 // (len(para) + 16) + 1):
            fh.write(f"Section {i}. {para}\n\n")
    code = (
        "import json, resource, sys\n"
        "from seal_desk.cli.main import main\n"
        "import seal_desk.model.loader as loader\n"
        "loader.load = lambda *a, **k: sys.exit('the text was read and the model loads to learn it')\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    code = main(['-m', 'tiny-random', '-w', sys.argv[2], 'learn', sys.argv[1]])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024\n"
        "print(json.dumps({'code': code, 'grown_mb': grown}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", code, str(big), str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-1500:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["code"] == 2, f"{result['code']} (the process grew by {result['grown_mb']:.0f} MB)"
    assert "MB" in one_line_error(run.stderr)
    assert result["grown_mb"] < 32, f"reading grew the process by {result['grown_mb']:.0f} MB"
