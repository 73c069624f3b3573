import json

import pytest

from seal_desk.cli.main import main

FAST = ["--epochs", "1", "--max-new-tokens", "8", "--rank", "4", "--alpha", "8"]


def _data(tmp_path):
    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {
                    "title": "Alpha",
                    "context": "Alpha was founded in 1901 by Ada.",
                    "questions": [{"question": "When was Alpha founded?", "answer": "1901"}],
                },
                {
                    "title": "Beta",
                    "context": "Beta is a blue river.",
                    "questions": [{"question": "What color is Beta?", "answer": "blue"}],
                },
                {
                    "title": "Gamma",
                    "context": "Gamma grows purple kelp.",
                    "questions": [
                        {"question": "What does Gamma grow?", "answer": "kelp"},
                        {"question": "What color is the kelp of Gamma?", "answer": "purple"},
                    ],
                },
            ]
        )
    )
    return data


@pytest.mark.slow
def test_bench_continual_writes_the_forgetting_matrix(tmp_path):
    probe = tmp_path / "probe.tsv"
    probe.write_text("What is the capital of France?\tParis\nHow many legs does a spider have?\teight\n")
    out, md = tmp_path / "c.json", tmp_path / "c.md"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "continual",
                "--data",
                str(_data(tmp_path)),
                "--sequence",
                "3",
                "--probe",
                str(probe),
                "--retrieval",
                "bm25",
                "--format",
                "none",
                "--json",
                str(out),
                "--markdown",
                str(md),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["n"] == 3 and res["questions"] == [1, 1, 2] and res["probe_questions"] == 2
    assert set(res["strategies"]) == {"merge", "adapters", "replay"}
    for s in res["strategies"].values():
        m = s["matrix"]
        assert [[x is None for x in row] for row in m] == [
            [False, True, True],
            [False, False, True],
            [False, False, False],
        ]
        assert len(s["probe"]) == 3 and {"mean_drop", "max_drop", "documents"} <= set(s["retention"])
    assert len(res["strategies"]["adapters"]["routing"]) == 3
    text = md.read_text()
    assert "**merge**" in text and "| base model |" in text and "mean drop" in text


def test_bench_continual_one_strategy_with_own_self_edits(tmp_path):
    out = tmp_path / "c.json"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "continual",
                "--data",
                str(_data(tmp_path)),
                "--sequence",
                "2",
                "--strategy",
                "replay",
                "--json",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert list(res["strategies"]) == ["replay"] and len(res["strategies"]["replay"]["matrix"]) == 2


@pytest.mark.slow
def test_bench_knowledge_rag_conditions(tmp_path):
    data = _data(tmp_path)
    out = tmp_path / "k.json"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "knowledge",
                "--data",
                str(data),
                "--n",
                "3",
                "--conditions",
                "base,passage,self-edit,rag,rag+adapter",
                "--retrieval",
                "bm25",
                "--top-k",
                "1",
                "--json",
                str(out),
                "--markdown",
                str(tmp_path / "k.md"),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    conds = res["conditions"]
    assert list(conds) == ["base", "passage", "self-edit", "rag", "rag+adapter"]
    assert conds["rag"]["retrieval_hit"] == 1.0  # each question's own passage is the top hit
    assert conds["rag+adapter"]["tokens_per_passage"] == conds["self-edit"]["tokens_per_passage"] > 0  # reused
    assert conds["passage"]["tokens_per_passage"] > 0 and conds["passage"]["questions"] == 4
    assert conds["rag"]["tokens_per_passage"] == 0 and "retrieval_hit" not in conds["base"]
    assert res["retrieval"]["index"] == "BM25" and res["retrieval"]["passages"] == 3
    assert "Retrieval: BM25 over the 3 selected passages" in (tmp_path / "k.md").read_text()
    with_edits = json.loads(data.read_text())
    for item in with_edits:
        item["self_edits"] = [f"- {item['context']}"]
    data.write_text(json.dumps(with_edits))
    cpt = tmp_path / "cpt.json"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "knowledge",
                "--data",
                str(data),
                "--n",
                "3",
                "--cpt",
                "--conditions",
                "given-self-edits,rag+adapter",
                "--rag-adapter",
                "given-self-edits",
                "--retrieval",
                "bm25",
                "--json",
                str(cpt),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(cpt.read_text())
    assert res["conditions"]["rag+adapter"]["questions"] == 4
    assert res["conditions"]["rag+adapter"]["label"] == "Passage + given self-edits + retrieved passages"
    assert [r["tokens"] for r in res["per_passage"]["rag+adapter"]] == [
        r["tokens"] for r in res["per_passage"]["given-self-edits"]
    ]


def test_bench_continual_bad_input(tmp_path, capsys):
    data = str(_data(tmp_path))
    assert main(["-m", "tiny-random", "bench", "continual", "--data", data, "--sequence", "0"]) == 2
    assert main(["-m", "tiny-random", "bench", "continual", "--data", data, "--probe", str(tmp_path / "no.txt")]) == 2
    err = capsys.readouterr().err
    assert "--sequence must be at least 1" in err and "no such questions file" in err and "Traceback" not in err


def test_continual_bench_core_returns_the_matrix_and_emits_events(tiny, fast_config, tmp_path, capsys):
    from seal_desk.bench.continual import ContinualBench, ContinualBenchOptions, run_continual_bench
    from seal_desk.engine import Engine
    from seal_desk.errors import InputError
    from seal_desk.events import ContinualRecall

    engine = Engine(tiny, None, fast_config)
    events = []
    options = ContinualBenchOptions(
        str(_data(tmp_path)), sequence=2, strategies=("adapters",), order="file", retrieval="bm25"
    )
    result = run_continual_bench(engine, options, events.append)
    assert capsys.readouterr() == ("", "")  # nothing printed: rendering is the CLI's
    assert result["titles"] == ["Alpha", "Beta"] and list(result["strategies"]) == ["adapters"]
    assert [(e.update, len(e.accuracies)) for e in events if isinstance(e, ContinualRecall)] == [(0, 1), (1, 2)]
    with pytest.raises(InputError, match="--sequence must be at least 1"):
        ContinualBench(engine, ContinualBenchOptions(options.data, sequence=0))
