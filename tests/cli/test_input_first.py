"""Bad input fails before the model loads, with one line on stderr (exit 2); library log lines stay out of it."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seal_desk.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_model(monkeypatch):
    """The model loader, armed: any command that reaches it before failing on its input fails the test."""

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("seal_desk.model.loader.load", load)


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "doc.txt").write_text("Lake Quorra is 63 metres deep.", encoding="utf-8")
    (tmp_path / "q.txt").write_text("How deep is Lake Quorra?\t63 metres\n", encoding="utf-8")
    (tmp_path / "bad-q.txt").write_text("Q: a question without its answer\n", encoding="utf-8")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "rows.csv").write_text("context,question,answer\nLake Quorra is deep.,Which lake?,Quorra\n")
    (tmp_path / "data.json").write_text(
        json.dumps(
            [{"title": "L", "context": "Lake Quorra is deep.", "questions": [{"question": "Q?", "answer": "A"}]}]
        )
    )
    return tmp_path


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line: {err!r}"
    assert lines[0].startswith("seal-desk: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["learn", "{d}/missing.txt"], "missing.txt: no such file"),
        (["learn", "{d}/bin.txt"], "binary"),
        (["learn", "{d}/doc.txt", "-q", "{d}/missing-q.txt"], "missing-q.txt"),
        (["learn", "{d}/doc.txt", "-q", "{d}/bad-q.txt"], "has no answer"),
        (["learn", "{d}/doc.txt", "{d}/data.json", "-q", "{d}/q.txt"], "--questions needs exactly one document"),
        (["eval", "{d}/missing.txt"], "no such file"),
        (["bench", "knowledge", "--data", "{d}/missing.json"], "missing.json: no such file"),
        (["bench", "knowledge", "--data", "{d}/rows.csv", "--data-columns", "context=para"], "no column 'para'"),
        (["bench", "knowledge", "--data", "{d}/data.json", "--self-edits", "{d}/gone.json"], "gone.json"),
        (
            ["bench", "knowledge", "--data", "someone/not-cached:validation"],
            "someone/not-cached: not in the local datasets cache and the hub cannot be reached",
        ),
        (["bench", "continual", "--data", "{d}/missing.json"], "no such file"),
        (["bench", "continual", "--data", "{d}/data.json", "--probe", "{d}/bad-q.txt"], "has no answer"),
        (["rl", "--data", "{d}/typo.json", "--out", "{d}/run"], "typo.json: no such file"),
        (["rl", "--data", "{d}/data.json", "--exclude", "{d}/typo.json", "--out", "{d}/run"], "typo.json"),
        (["learner", "--data", "{d}/typo.jsonl", "--out", "{d}/learner"], "typo.jsonl: no such file"),
    ],
)
def test_bad_input_fails_before_the_model_loads(argv, message, inputs, no_model, capsys, monkeypatch):
    monkeypatch.setattr("seal_desk.knowledge.data.hub_reachable", lambda timeout=3.0: False)
    argv = [a.format(d=inputs) for a in argv]
    code = main(["-m", "tiny-random", "-w", str(inputs / "ws"), *argv])
    assert code == 2
    assert message in one_line_error(capsys.readouterr().err)


def test_a_typo_fails_without_importing_torch(tmp_path):
    """Fast: a bad path is reported before torch (seconds to import) or a model is touched."""
    code = (
        "import sys\n"
        "from seal_desk.cli.main import main\n"
        "d = sys.argv[1]\n"
        "for argv in (['learn', d + '/x.txt'], ['eval', d + '/x.txt'], ['bench', 'knowledge', '--data', d + '/x.json'],"
        " ['bench', 'continual', '--data', d + '/x.json'], ['rl', '--data', d + '/x.json', '--out', d + '/r'],"
        " ['learner', '--data', d + '/x.json', '--out', d + '/l']):\n"
        "    assert main(['-m', 'tiny-random', '-w', d + '/ws', *argv]) == 2, argv\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    assert len(run.stderr.strip().splitlines()) == 6  # one line per command


def test_update_skips_unreadable_files_without_loading_the_model(tmp_path, no_model, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"\x13\x37 not a pdf at all")
    (folder / "bin.txt").write_bytes(b"\x00\x01binary")
    code = main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "update", str(folder), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["failed"] == 2 and out["learned"] == 0
    assert {f["path"].rsplit("/", 1)[-1]: f["status"] for f in out["files"]} == {
        "bin.txt": "failed",
        "broken.pdf": "failed",
    }


def truncated_pdf() -> bytes:
    """A real PDF written by pypdf, cut in half."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    data = buffer.getvalue()
    return data[: len(data) // 2]


CORRUPT_PDFS = {
    "garbage": lambda: b"\x13\x37 a few bytes of garbage",
    "header only": lambda: b"%PDF-1.4 truncated",
    "truncated": truncated_pdf,
}


@pytest.mark.parametrize("kind", list(CORRUPT_PDFS))
def test_corrupt_pdf_is_exactly_one_line(kind, tmp_path, no_model, capsys):
    path = tmp_path / "notes.pdf"
    path.write_bytes(CORRUPT_PDFS[kind]())
    code = main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "learn", str(path)])
    line = one_line_error(capsys.readouterr().err)  # pypdf's "EOF marker not found" is not printed
    assert code == 2 and "notes.pdf: unreadable PDF" in line


def test_corrupt_pdf_one_line_from_the_real_command(tmp_path):
    """The same through `python -m seal_desk` (its own stderr, logging's last-resort handler included)."""
    path = tmp_path / "notes.pdf"
    path.write_bytes(truncated_pdf())
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "seal_desk", "-m", "tiny-random", "-w", str(tmp_path / "ws"), "learn", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2
    assert "unreadable PDF" in one_line_error(run.stderr)
