import json

import pytest

from seal_desk.cli.main import build_parser, main

FAST = ["--epochs", "2", "--max-new-tokens", "12", "--rank", "4", "--alpha", "8"]


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "zorblat.txt"
    path.write_text("Zorblat Industries was founded in 1987 by Mira Kostadinova.\n\nIt makes ceramic wind turbines.")
    (tmp_path / "q.txt").write_text(
        "Who founded Zorblat Industries?\tMira Kostadinova\nWhat does it make?\tceramic wind turbines\n"
    )
    return path


@pytest.mark.slow
def test_learn_json_then_eval_with_adapter(doc, tmp_path, capsys):
    ws = str(tmp_path / "ws")
    code = main(
        ["-m", "tiny-random", "-w", ws, "learn", str(doc), "--questions", str(tmp_path / "q.txt"), "--json", *FAST]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    res = out["results"][0]
    assert out["model"] == "tiny-random" and res["questions"] == 2 and res["adapter_id"] == 1
    assert {"accuracy_before", "accuracy_after", "per_question", "timings", "train"} <= set(res)
    assert (
        main(
            ["-m", "tiny-random", "-w", ws, "eval", str(doc), "-q", str(tmp_path / "q.txt"), "--adapter", "1", "--json"]
        )
        == 0
    )
    ev = json.loads(capsys.readouterr().out)
    assert [q["answer"] for q in ev["per_question"]] == [q["after"] for q in res["per_question"]]
    assert main(["-w", ws, "adapters", "export", "1", "--to", str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "adapter_model.safetensors").exists()
    assert (
        main(["-m", "tiny-random", "-w", ws, "adapters", "export", "1", "--merged", "--to", str(tmp_path / "merged")])
        == 0
    )
    assert (tmp_path / "merged" / "model.safetensors").exists()
    assert main(["-w", ws, "adapters", "delete", "1"]) == 0
    capsys.readouterr()
    assert main(["-w", ws, "adapters"]) == 0


def test_learn_table_output(doc, tmp_path, capsys):
    assert (
        main(["-m", "tiny-random", "-w", str(tmp_path / "ws"), "learn", str(doc), "-q", str(tmp_path / "q.txt"), *FAST])
        == 0
    )
    out = capsys.readouterr().out
    assert "recall (strict) before: " in out and "after: " in out and "saved adapter #1" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["-m", "no-such-model", "models"], None),
        (["-m", "no-such-model", "learn", "{doc}"], "unknown model 'no-such-model'"),
        (["-m", "tiny-random", "learn", "/no/such/file.txt"], "no such file"),
        (["-m", "tiny-random", "learn", "{bad}"], "malformed JSON"),
        (["-m", "tiny-random", "learn", "{empty}"], "document is empty"),
        (["-m", "tiny-random", "learn", "{doc}", "--format", "sonnet"], "unknown self-edit format"),
        (["-m", "tiny-random", "learn", "{doc}", "--epochs", "0"], "--epochs must be at least 1"),
        (["-m", "tiny-random", "eval", "{doc}"], "no questions to evaluate"),
        (["-m", "./nowhere/model.gguf", "learn", "{doc}"], "no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, tmp_path, doc, capsys):
    (tmp_path / "bad.json").write_text('[{"title": "x", ')
    (tmp_path / "empty.txt").write_text("\n \n")
    argv = [a.format(bad=tmp_path / "bad.json", empty=tmp_path / "empty.txt", doc=doc) for a in argv]
    code = main(["-w", str(tmp_path / "ws"), *argv])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0  # `models` does not load the model
        return
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len([line for line in err.strip().splitlines() if "error" in line]) == 1


def test_models_lists_presets(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("smollm2-135m", "qwen2.5-7b", "llama-3.2-1b-instruct"):
        assert name in out


def test_bench_knowledge_tiny(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {
                    "title": "A",
                    "context": "Alpha was founded in 1901.",
                    "questions": [{"question": "When?", "answer": "1901"}],
                    "self_edits": ["- Alpha began in 1901.", "- Alpha is old."],
                },
                {
                    "title": "B",
                    "context": "Beta is blue.",
                    "questions": [{"question": "Color?", "answer": "blue"}],
                    "self_edits": ["- Beta has a blue color."],
                },
            ]
        )
    )
    out = tmp_path / "r.json"
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
                "2",
                "--json",
                str(out),
                "--markdown",
                str(tmp_path / "r.md"),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert set(res["conditions"]) == {"base", "passage", "self-edit", "given-self-edits"}
    assert res["conditions"]["base"]["questions"] == 2 and res["conditions"]["base"]["tokens_per_passage"] == 0
    assert (
        res["conditions"]["given-self-edits"]["tokens_per_passage"] > res["conditions"]["passage"]["tokens_per_passage"]
    )
    assert "| Train on passage |" in (tmp_path / "r.md").read_text()


def _bench_data(tmp_path):
    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {
                    "title": "A",
                    "context": "Alpha was founded in 1901.",
                    "questions": [{"question": "When?", "answer": "1901"}],
                },
                {
                    "title": "B",
                    "context": "Beta is blue.",
                    "questions": [
                        {"question": "Color?", "answer": "blue"},
                        {"question": "What is blue?", "answer": "Beta"},
                    ],
                },
            ]
        )
    )
    return data


def test_bench_knowledge_cpt_trains_one_adapter_for_all_passages(tmp_path):
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "knowledge",
                "--data",
                str(_bench_data(tmp_path)),
                "--n",
                "2",
                "--conditions",
                "base,passage",
                "--cpt",
                "--json",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["setting"].startswith("continued pretraining")
    assert sorted(r["questions"] for r in res["per_passage"]["passage"]) == [1, 2]
    tokens = [r["tokens"] for r in res["per_passage"]["passage"]]
    assert tokens[0] == tokens[1] > 0  # one adapter, its tokens shared out


@pytest.mark.slow
def test_rl_then_bench_with_the_trained_generator(tmp_path):
    data = _bench_data(tmp_path)
    out = tmp_path / "rl"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "-w",
                str(tmp_path / "ws"),
                "rl",
                "--data",
                str(data),
                "--out",
                str(out),
                "--rounds",
                "1",
                "--passages",
                "2",
                "--k",
                "2",
                "--eval-times",
                "1",
                "--max-new-tokens",
                "6",
                "--json",
                str(tmp_path / "rl.json"),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "rl.json").read_text())
    assert res["rounds"][0]["passages"] == 2 and res["rounds"][0]["candidates"] == 4
    # no generator was written when nothing beat the baseline; make one by hand to exercise the bench path
    from seal_desk.model.loader import load_tiny
    from seal_desk.restem.loop import _save_generator

    tiny = load_tiny()
    gen = out / "round-1" / "generator"
    _save_generator(tiny.model, tiny.tokenizer, gen, {"base": "tiny-random", "round": 1})
    report = tmp_path / "k.json"
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
                "2",
                "--conditions",
                "base",
                "--generator",
                str(gen),
                "--json",
                str(report),
                *FAST,
            ]
        )
        == 0
    )
    got = json.loads(report.read_text())
    assert got["conditions"]["seal-1"]["label"] == "SEAL (round 1 generator)"
    assert main(["-m", "tiny-random", "bench", "knowledge", "--data", str(data), "--conditions", "seal", *FAST]) == 2


def test_rl_refuses_training_on_excluded_passages(tmp_path, capsys):
    data = _bench_data(tmp_path)
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "-w",
                str(tmp_path / "ws"),
                "rl",
                "--data",
                str(data),
                "--exclude",
                str(data),
                "--out",
                str(tmp_path / "rl"),
                *FAST,
            ]
        )
        == 2
    )
    assert "no training passages" in capsys.readouterr().err


def test_bench_speed_tiny(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "speed",
                "--tokens",
                "4",
                "--epochs",
                "1",
                "--repeat",
                "3",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    runs = res["generation_runs"]["gen_tok_s_batch1_sampling"]
    assert len(runs) == 3 and res["gen_tok_s_batch1_sampling"] == sorted(runs)[1]  # the median of 3 rounds
    for key in (
        "gen_tok_s_batch1",
        "gen_tok_s_batch5",
        "train_tok_s",
        "recall_s_per_question",
        "matmul_peak_tflops",
        "train_mfu_6NT",
        "train_mfu_lora",
        "train_mfu_lora_k5",
        "learn_s_train",
        "learn_s_total",
        "learn_interactive_s_train",
        "learn_interactive_s_total",
        "peak_rss_gib",
    ):
        assert res[key] > 0, key
    assert res["train_tokens_per_candidate"] > 0 and 0 < res["train_mfu_lora"] < 1 and 0 < res["train_mfu_6NT"] < 1
    assert res["learn_epochs"] == 1 and res["learn_interactive_epochs"] == 1  # --epochs 1: both run their one epoch


@pytest.mark.slow
def test_bench_speed_compare_serial_tiny(tmp_path):
    out = tmp_path / "speed.json"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "bench",
                "speed",
                "--tokens",
                "4",
                "--epochs",
                "2",
                "--compare-serial",
                "--candidates",
                "3",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["candidates_k"] == 3 and res["candidates_packed"] is True
    assert res["candidates_serial_train_s"] > 0 and res["candidates_batched_train_s"] > 0
    serial = res["candidates_serial_generate_s"] + res["candidates_serial_total_s"]
    batched = res["candidates_batched_generate_s"] + res["candidates_batched_total_s"]
    assert res["candidates_speedup_inner_loop"] == pytest.approx(serial / batched)  # writing the self-edits counts
    assert res["candidates_max_final_loss_diff"] < 1e-2
    assert len(set(res["candidates_train_tokens_per_candidate"])) > 1  # candidates differ


@pytest.mark.slow
def test_bench_strict_lax_floor_new_conditions_learner_and_table(tmp_path):
    data = _bench_data(tmp_path)
    plain, with_learner = tmp_path / "plain.json", tmp_path / "learner.json"
    conditions = "base,passage,sentences,self-edit:self-qa"
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
                "2",
                "--conditions",
                conditions,
                "--qa-prompt",
                "--json",
                str(plain),
                *FAST,
            ]
        )
        == 0
    )
    res = json.loads(plain.read_text())
    assert list(res["conditions"]) == conditions.split(",")
    assert res["conditions"]["self-edit:self-qa"]["label"] == "Passage + own self-edits (self-qa)"
    assert res["recitation_floor"]["lax"] >= res["recitation_floor"]["strict"] > 0
    for summary in res["conditions"].values():
        assert summary["lax_accuracy"] >= summary["accuracy"] and len(summary["lax_ci95"]) == 2
    assert res["per_passage"]["sentences"][1]["sequences"] == 1  # "Beta is blue." is one sentence

    learner = tmp_path / "learner"
    assert (
        main(["-m", "tiny-random", "learner", "--data", str(data), "--out", str(learner), "--write", "self-qa", *FAST])
        == 0
    )
    assert json.loads((learner / "seal_desk_learner.json").read_text())["writes"] == "self-qa"
    assert (
        main(
            [
                "-m",
                "tiny-random",
                "--learner",
                str(learner),
                "bench",
                "knowledge",
                "--data",
                str(data),
                "--n",
                "2",
                "--conditions",
                "base,passage",
                "--json",
                str(with_learner),
                *FAST,
            ]
        )
        == 0
    )
    assert json.loads(with_learner.read_text())["learner"] == str(learner)

    table = tmp_path / "table.md"
    assert main(["bench", "table", str(plain), str(with_learner), "--markdown", str(table)]) == 0
    text = table.read_text()
    assert "| Train on passage |" in text and "| Train on passage — learner learner |" in text
    assert "Recitation floor" in text
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**res, "seed": 7}))
    assert main(["bench", "table", str(plain), str(other)]) == 2


def test_stop_loss_flag_reaches_the_inner_loop_and_is_checked(tmp_path, capsys):
    from seal_desk.cli.setup import flags

    args = build_parser().parse_args(["learn", "notes.md", "--stop-loss", "0.1"])
    assert flags(args)["inner"]["stop_loss"] == 0.1
    note = tmp_path / "note.md"
    note.write_text("Zorblat Industries was founded in 1987 in Velmora.")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(["-m", "tiny-random", *ws, "learn", str(note), "--stop-loss", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("--stop-loss must be 0 (train every epoch) or more") and "Traceback" not in "".join(err)


def test_learn_is_interactive_and_bench_is_not(tmp_path, monkeypatch):
    """`learn` opens its engine with config.INTERACTIVE (the stop rule); benchmarks keep the paper's epochs."""
    import seal_desk.cli.bench as bench_cli
    import seal_desk.cli.learn as learn_cli

    asked = {}

    def fake(name):
        def make_engine(args, err, ws=None, interactive=False):
            asked[name] = interactive
            raise InputError("stop here")

        return make_engine

    from seal_desk.errors import InputError

    monkeypatch.setattr(learn_cli, "make_engine", fake("learn"))
    monkeypatch.setattr(bench_cli, "make_engine", fake("bench"))
    note = tmp_path / "note.md"
    note.write_text("Zorblat Industries was founded in 1987 in Velmora.")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main(["-m", "tiny-random", *ws, "learn", str(note)]) == 2
    assert main(["-m", "tiny-random", *ws, "bench", "speed"]) == 2
    assert asked == {"learn": True, "bench": False}
