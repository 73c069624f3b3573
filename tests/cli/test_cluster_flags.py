"""`--ray` on rl, arc rl and bench knowledge: the flags, and the one-line error when Ray is not installed."""

from __future__ import annotations

import sys

import pytest

from seal_desk.cli.main import build_parser, main


@pytest.mark.parametrize(
    "argv",
    [
        ["rl", "--data", "d.json", "--out", "o"],
        ["arc", "rl", "--challenges", "c.json", "--out", "o"],
        ["bench", "knowledge", "--data", "d.json"],
    ],
)
def test_the_three_commands_take_the_cluster_flags(argv):
    parser = build_parser()
    assert parser.parse_args(argv).ray is None
    args = parser.parse_args([*argv, "--ray", "--ray-workers", "2", "--ray-gpus-per-worker", "0.5"])
    assert (args.ray, args.ray_workers, args.ray_gpus_per_worker, args.ray_cpus_per_worker) == ("auto", 2, 0.5, None)
    assert parser.parse_args([*argv, "--ray", "10.0.0.1:6379"]).ray == "10.0.0.1:6379"


def test_without_ray_the_flag_ends_with_one_line_on_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main(["rl", "--data", "missing.json", "--out", "o", "--ray"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "pip install 'seal-desk[cluster]'" in err


def test_the_cluster_options_are_checked_before_anything_loads(capsys):
    pytest.importorskip("ray")
    assert main(["bench", "knowledge", "--data", "missing.json", "--ray", "local", "--ray-workers", "0"]) == 2
    assert "--ray-workers must be at least 1" in capsys.readouterr().err
