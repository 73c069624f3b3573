"""Out of memory is survivable: training and generation halve and retry; at 1 it is one line, no adapter."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from seal_desk.errors import ModelError
from seal_desk.events import Message
from seal_desk.model.oom import Halving, is_oom

SETS = [
    ["Zorblat Industries was founded in 1987.", "Mira Kostadinova founded it in Velmora, a small town."],
    ["The company makes ceramic wind turbines.", "Velmora.", "It was founded by Mira Kostadinova in 1987."],
    ["Lake Quorra is 63 metres deep and home to the silver-finned Quorra trout."],
    ["Velmora lies on the Quorra river.", "Its mayor is Ana Pell."],
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Each test compares runs within itself; one thread keeps the tiny model fast on a shared, busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _oom() -> torch.OutOfMemoryError:
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")


def _warnings(events) -> list[str]:
    return [e.text for e in events if isinstance(e, Message) and e.level == "warning"]


def _oom_training_forward(monkeypatch, over_rows: int) -> None:
    """The model's training forward (grad on) runs out of memory with more than `over_rows` rows."""
    from transformers import LlamaForCausalLM

    real = LlamaForCausalLM.forward

    def forward(self, *args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if torch.is_grad_enabled() and ids is not None and ids.shape[0] > over_rows:
            raise _oom()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LlamaForCausalLM, "forward", forward)


def test_halving_retries_only_out_of_memory_and_keeps_done_ranges():
    sizes, events = [], []

    def work(start, stop):
        sizes.append(stop - start)
        if stop - start > 2:
            raise _oom()
        return list(range(start, stop))

    halving = Halving(8, "row{s}", events.append)
    assert sum(halving.over(7, work), []) == list(range(7))
    assert sizes == [7, 4, 2, 2, 2, 1] and halving.size == 2
    assert _warnings(events) == [
        "out of GPU memory with 7 rows at once; retrying with 4",
        "out of GPU memory with 4 rows at once; retrying with 2",
    ]
    sizes.clear()
    tail = Halving(3, "candidate{s}", events.append)  # 5 candidates, 3 at a time: the last range is short
    assert sum(tail.over(5, work), []) == list(range(5))
    assert sizes == [3, 2, 2, 1] and tail.size == 2, "a short range is not retried at the same size"
    with pytest.raises(ValueError):
        Halving(4, "row{s}").run(lambda size: int("x"))
    with pytest.raises(ModelError, match=r"^out of GPU memory even with 1 row at once: .*--quant nf4$"):
        Halving(2, "row{s}").run(lambda size: (_ for _ in ()).throw(_oom()))
    assert is_oom(RuntimeError("MPS backend out of memory")) and not is_oom(RuntimeError("shape mismatch"))


def test_candidates_trained_in_halves_are_the_same_adapters(tiny_engine, passage, monkeypatch):
    from seal_desk.knowledge import inner_loop
    from seal_desk.knowledge.recall import RecallQuestion
    from seal_desk.model import generation

    engine = tiny_engine
    engine.config = replace(engine.config, recall=replace(engine.config.recall, max_new_tokens=4))
    questions = [RecallQuestion(passage.title, q.question, q.answer) for q in passage.questions]
    seeds = [42, 43, 42, 44]

    def candidates(events):
        engine.train_candidates(SETS, events.append, seeds=seeds)
        stack = engine.candidates
        recall = engine.recall_candidates(questions, "recall", events.append)
        return stack, [[a.text for a in r.answers] for r in recall], engine.answer_scores(questions)

    ref_stack, ref_answers, ref_scores = candidates([])

    def refusing(real):  # a training step of more than 2 candidates runs out of memory
        def losses(*args):
            if (args[2] if len(args) == 4 else args[4]) > 2:  # _packed_losses(model, packed, groups, device)
                raise _oom()
            return real(*args)

        return losses

    monkeypatch.setattr(inner_loop, "_packed_losses", refusing(inner_loop._packed_losses))
    monkeypatch.setattr(inner_loop, "_group_losses", refusing(inner_loop._group_losses))
    real_sample = generation._sample

    def sample(logits, *args):  # and generating more than 4 rows (2 questions x 4 adapters = 8) too
        if logits.shape[0] > 4:
            raise _oom()
        return real_sample(logits, *args)

    monkeypatch.setattr(generation, "_sample", sample)
    events = []
    stack, answers, scores = candidates(events)
    assert stack.k == 4 and len(stack.layers) == len(ref_stack.layers)
    for ref, layer in zip(ref_stack.layers, stack.layers):
        torch.testing.assert_close(layer.a, ref.a, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(layer.b, ref.b, rtol=1e-3, atol=1e-4)
    assert answers == ref_answers
    assert scores == pytest.approx(ref_scores, abs=1e-3)
    assert _warnings(events) == [
        "out of GPU memory with 4 candidates at once; retrying with 2",
        "out of GPU memory with 2 generated rows per adapter at once; retrying with 1",
    ]
    engine.keep_candidate(3)
    assert engine.trained


def test_a_training_batch_is_redone_in_halves_with_the_same_update(tiny, monkeypatch):
    from seal_desk.config import InnerLoopConfig, LoraSettings
    from seal_desk.knowledge.inner_loop import train
    from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost

    cfg = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=1, lr=1e-2, batch_size=4)
    host = AdapterHost(tiny.model)
    sequences = [s for group in SETS for s in group]  # 8 sequences of mixed lengths: 2 batches of 4
    weights = lambda: {n: p.detach().clone() for n, p in host.peft.named_parameters() if TRAINING_SLOT in n}  # noqa: E731
    ref_report = train(host, tiny.tokenizer, sequences, cfg)
    ref = weights()
    _oom_training_forward(monkeypatch, over_rows=1)
    events = []
    report = train(host, tiny.tokenizer, sequences, cfg, events.append)
    assert report.steps == ref_report.steps and report.tokens == ref_report.tokens
    assert report.final_loss == pytest.approx(ref_report.final_loss, abs=1e-4)
    for name, weight in weights().items():
        torch.testing.assert_close(weight, ref[name], rtol=1e-3, atol=1e-4)
    assert _warnings(events) == [
        "out of GPU memory with 4 training sequences at once; retrying with 2",
        "out of GPU memory with 2 training sequences at once; retrying with 1",
    ]


def test_generation_of_8_rows_splits_and_gives_the_same_greedy_rows(tiny, monkeypatch):
    from seal_desk.model import generation

    prompts = [tiny.tokenizer(f"Question {i}: the capital of France is")["input_ids"] for i in range(8)]

    def run(**kw):
        return generation.generate(tiny.model, tiny.tokenizer, prompts, max_new_tokens=4, stop_ids=tiny.eos_ids, **kw)

    greedy = run()
    calls, real_sample = [], generation._sample

    def sample(logits, *args):  # the 8-row batch runs out of memory after its first token
        calls.append(logits.shape[0])
        if logits.shape[0] > 4 and len(calls) > 1:
            raise _oom()
        return real_sample(logits, *args)

    monkeypatch.setattr(generation, "_sample", sample)
    events, streamed = [], {}
    split = run(on_event=events.append, on_text=lambda row, text: streamed.setdefault(row, []).append(text))
    assert split == greedy and sorted(streamed) == list(range(8))
    assert _warnings(events) == ["out of GPU memory with 8 generated rows at once; retrying with 4"]
    sampled = [run(temperature=1.0, top_p=0.95, seed=7) for _ in range(2)]
    assert len(sampled[0]) == 8 and sampled[0] == sampled[1]  # split, sampling stays seeded


def test_learn_out_of_memory_at_one_row_is_one_line_and_saves_nothing(tiny_engine, passage, monkeypatch):
    from seal_desk.knowledge.documents import Document

    _oom_training_forward(monkeypatch, over_rows=0)
    events = []
    with pytest.raises(ModelError) as caught:
        tiny_engine.learn(Document("zorblat.txt", passage.title, [passage]), fmt="none", on_event=events.append)
    assert str(caught.value) == (
        "out of GPU memory even with 1 training sequence at once: try a smaller model, shorter passages "
        "(a lower --max-seq-len), or --quant nf4"
    )
    assert caught.value.__context__ is None  # no chained traceback
    assert tiny_engine.workspace.adapters() == [] and not tiny_engine.trained
    assert [r.status for r in tiny_engine.workspace.runs()] == ["failed"]
    folder = tiny_engine.workspace.adapters_dir
    assert not folder.exists() or not any(folder.iterdir())  # no half-written adapter folder either


def test_cli_learn_prints_the_halving_and_the_error_in_one_line(tmp_path, capsys, monkeypatch):
    import json

    from seal_desk.cli.main import main
    from seal_desk.workspace.database import Workspace

    doc = tmp_path / "zorblat.json"  # two passages: two training sequences, one batch of 2
    doc.write_text(
        json.dumps(
            [
                {"title": "Zorblat", "context": "Zorblat Industries was founded in 1987 by Mira Kostadinova."},
                {"title": "Zorblat", "context": "Zorblat Industries makes ceramic wind turbines."},
            ]
        )
    )
    argv = ["-m", "tiny-random", "-w", str(tmp_path / "ws"), "learn", str(doc), "--format", "none"]
    argv += ["--epochs", "1", "--rank", "4", "--alpha", "8", "--batch-size", "2"]
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    _oom_training_forward(monkeypatch, over_rows=1)
    assert main(argv) == 0
    out = capsys.readouterr()
    said = [line for line in (out.out + out.err).splitlines() if "out of GPU memory" in line]
    assert said == ["out of GPU memory with 2 training sequences at once; retrying with 1"]
    _oom_training_forward(monkeypatch, over_rows=0)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == [
        "seal-desk: error: out of GPU memory even with 1 training sequence at once: try a smaller model, shorter "
        "passages (a lower --max-seq-len), or --quant nf4"
    ]
    ws = Workspace(tmp_path / "ws")
    assert len(ws.adapters()) == 1 and sorted(r.status for r in ws.runs()) == ["done", "failed"]
    ws.close()
