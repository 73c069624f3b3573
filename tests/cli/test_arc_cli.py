"""`seal-desk arc …` on the tiny model: show, solve, bench, rl; bad input is one line and exit 2."""

from __future__ import annotations

import json

import pytest

from seal_desk.cli.main import main
from tests.arc.arc_helpers import constant_task, flip_task, write_challenges

FAST = ["--rank", "4", "--alpha", "8", "--max-examples", "8", "--max-epochs", "3", "--max-new-tokens", "8"]
LEARNS = (
    '{"training": {"strategy": "train_using_output_tokens", "learning_rate": 0.01, "num_train_epochs": 3}, '
    '"data_generation": {"use_basic_augmentations": true}}'
)


@pytest.fixture
def files(tmp_path):
    write_challenges(
        tmp_path / "mini_challenges.json", [constant_task(), flip_task()], tmp_path / "mini_solutions.json"
    )
    write_challenges(tmp_path / "nosol.json", [flip_task()])
    return tmp_path


def test_show_draws_the_task(files, capsys):
    assert main(["arc", "show", str(files / "mini_challenges.json"), "--task", "flip", "--digits"]) == 0
    out = capsys.readouterr().out
    assert "flip: 3 demos, 1 test" in out and "2 1" in out and "2 tasks: const3, flip" not in out
    assert main(["arc", "show", str(files / "mini_challenges.json")]) == 0
    assert "2 tasks: const3, flip" in capsys.readouterr().out


@pytest.mark.slow
def test_solve_with_a_config_json(files, tmp_path, capsys):
    code = main(
        [
            "-m",
            "tiny-random",
            "-w",
            str(tmp_path / "ws"),
            "arc",
            "solve",
            str(files / "mini_challenges.json"),
            "--task",
            "const3",
            "--config",
            LEARNS,
            "--json",
            *FAST,
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solved"] is True and out["predictions"] == [[[3]]] and out["condition"] == "config"
    assert out["episodes"] == 8 and out["train"]["steps"] == 24 and out["settings"]["lora"]["r"] == 4
    (tmp_path / "cfg.json").write_text(LEARNS)
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "arc",
                "solve",
                str(files / "mini_challenges.json"),
                "--task",
                "const3",
                "--config",
                str(tmp_path / "cfg.json"),
                *FAST,
            ]
        )
        == 0
    )
    assert "const3: solved" in capsys.readouterr().out


def test_solve_with_a_self_edit_and_in_context(files, capsys):
    assert main(["-m", "tiny-random", "arc", "solve", str(files / "mini_challenges.json"), "--self-edit", *FAST]) == 0
    captured = capsys.readouterr()
    assert "invalid: no JSON object" in captured.err and "const3: not solved" in captured.out
    assert main(["-m", "tiny-random", "arc", "solve", str(files / "nosol.json"), "--icl", *FAST]) == 0
    assert "no solution to grade against" in capsys.readouterr().out


def test_bench_writes_json_and_markdown(files, tmp_path, capsys):
    code = main(
        [
            "-m",
            "tiny-random",
            "arc",
            "bench",
            "--challenges",
            str(files / "mini_challenges.json"),
            "--conditions",
            "icl,ttt,oracle",
            "--oracle",
            "1",
            "--json",
            str(tmp_path / "r.json"),
            "--markdown",
            str(tmp_path / "r.md"),
            *FAST,
            "--max-examples",
            "2",
            "--max-epochs",
            "1",
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert list(result["conditions"]) == ["icl", "ttt", "oracle"] and result["n"] == 2
    assert result["conditions"]["ttt"]["invalid"] == 2 and len(result["oracle_grid"]) == 1
    assert result["wall_seconds"] > 0 and result["challenges"].endswith("mini_challenges.json")
    assert "| In-context only (no training) | 0.0% (0/2) |" in (tmp_path / "r.md").read_text()
    assert "arc bench" in capsys.readouterr().out


def test_rl_smoke(files, tmp_path, capsys):
    code = main(
        [
            "-m",
            "tiny-random",
            "-w",
            str(tmp_path / "ws"),
            "arc",
            "rl",
            "--challenges",
            str(files / "mini_challenges.json"),
            "--out",
            str(tmp_path / "run"),
            "--k",
            "2",
            "--json",
            str(tmp_path / "s.json"),
            *FAST,
            "--max-examples",
            "2",
            "--max-epochs",
            "1",
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rounds"][0]["candidates"] == 4 and summary["rounds"][0]["kept"] == 0
    assert "arc rl" in capsys.readouterr().out and summary["rounds"][0]["generator"] is None


@pytest.mark.parametrize(
    "argv,message",
    [
        (["arc", "show", "/no/such/tasks.json"], "no such file"),
        (["arc", "show", "{bad}"], "malformed JSON"),
        (["arc", "show", "{ok}", "--task", "nope"], "no task 'nope'"),
        (["-m", "tiny-random", "arc", "solve", "{ok}", "--config", "{{'lr': 1}}"], "not a usable config"),
        (["-m", "tiny-random", "arc", "solve", "{ok}", "--config", "nofile.json"], "neither JSON nor an existing file"),
        (["-m", "tiny-random", "arc", "solve", "{ok}", "--leave-out", "0"], "--leave-out numbers must be at least 1"),
        (["-m", "tiny-random", "arc", "solve", "{ok}", "--max-examples", "0"], "--max-examples must be at least 1"),
        (["-m", "tiny-random", "arc", "bench", "--challenges", "{nosol}"], "no test outputs"),
        (
            ["-m", "tiny-random", "arc", "bench", "--challenges", "{ok}", "--conditions", "icl,magic"],
            "unknown condition",
        ),
        (["-m", "tiny-random", "arc", "bench", "--challenges", "{ok}", "--conditions", "seal"], "needs --generator"),
        (
            ["-m", "tiny-random", "arc", "bench", "--challenges", "{ok}", "--generator", "{dir}"],
            "not a generator checkpoint",
        ),
        (["-m", "tiny-random", "arc", "rl", "--challenges", "{nosol}", "--out", "{dir}/r"], "needs the test outputs"),
        (
            ["-m", "tiny-random", "arc", "rl", "--challenges", "{ok}", "--out", "{dir}/r", "--exclude", "{ok}"],
            "no training tasks left",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, files, tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"t": ')
    argv = [
        a.format(bad=tmp_path / "bad.json", ok=files / "mini_challenges.json", nosol=files / "nosol.json", dir=tmp_path)
        for a in argv
    ]
    code = main(["-w", str(tmp_path / "ws"), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.strip().splitlines() if "error" in line]) == 1
