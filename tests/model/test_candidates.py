"""Batched candidate training/evaluation gives each candidate what serial training gives it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from seal_desk.config import InnerLoopConfig, LoraSettings
from seal_desk.knowledge.inner_loop import train, train_candidates
from seal_desk.knowledge.recall import RecallQuestion
from seal_desk.model.adapters import TRAINING_SLOT
from seal_desk.model.stacked_lora import BatchedAdamW

SETS = [
    ["Zorblat Industries was founded in 1987.", "Mira Kostadinova founded it in Velmora, a small town."],
    ["The company makes ceramic wind turbines.", "Velmora.", "It was founded by Mira Kostadinova in 1987 as a shop."],
    ["Lake Quorra is 63 metres deep and home to the silver-finned Quorra trout."],
]


def _slot_weights(host) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in host.peft.named_parameters() if f".{TRAINING_SLOT}." in n}


def test_batched_adamw_matches_torch_adamw():
    torch.manual_seed(0)
    p = torch.randn(3, 4, 5, requires_grad=True)
    singles = [p[i].detach().clone().requires_grad_(True) for i in range(3)]
    opts = [torch.optim.AdamW([s], lr=1e-2, weight_decay=0.1) for s in singles]
    batched = BatchedAdamW([p], weight_decay=0.1)
    for step in range(5):
        grads = torch.randn(3, 4, 5)
        active = torch.tensor([True, step < 3, True])
        p.grad = grads * active.view(-1, 1, 1)
        batched.step(torch.full((3,), 1e-2), active)
        for i, (s, o) in enumerate(zip(singles, opts)):
            if active[i]:
                s.grad = grads[i].clone()
                o.step()
    for i in range(3):
        torch.testing.assert_close(p[i].detach(), singles[i].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "packing,pad_limit",
    [(True, 2.0), (True, 0.0), (False, 2.0)],
    ids=["packed-padded-block", "packed-per-segment", "row-groups"],
)
def test_each_batched_candidate_matches_serial_training(tiny, packing, pad_limit, monkeypatch):
    from seal_desk.model import stacked_lora
    from seal_desk.model.adapters import AdapterHost

    monkeypatch.setattr(stacked_lora, "PAD_LIMIT", pad_limit)  # 0: groups never padded into one block

    cfg = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=3, lr=1e-2, batch_size=2)
    host = AdapterHost(tiny.model)
    host.packing = packing
    serial, serial_reports = [], []
    for seqs in SETS:
        serial_reports.append(train(host, tiny.tokenizer, seqs, cfg))
        serial.append(_slot_weights(host))
    stack, reports = train_candidates(host, tiny.tokenizer, SETS, cfg)
    assert [r.steps for r in reports] == [r.steps for r in serial_reports]
    assert [r.tokens for r in reports] == [r.tokens for r in serial_reports]
    for i, report in enumerate(reports):
        assert abs(report.final_loss - serial_reports[i].final_loss) < 1e-3
        stack.export(i)
        for name, weight in _slot_weights(host).items():
            torch.testing.assert_close(weight, serial[i][name], rtol=1e-3, atol=1e-4)
    assert host.packing is packing
    # and the candidates really differ from one another
    assert not torch.allclose(stack.layers[0].b[0], stack.layers[0].b[2])


def test_batched_recall_matches_one_adapter_at_a_time(tiny_engine, passage):
    from dataclasses import replace

    engine = tiny_engine
    engine.config = replace(
        engine.config,
        inner=replace(engine.config.inner, epochs=4, lr=5e-2),
        recall=replace(engine.config.recall, max_new_tokens=4),
    )  # random model: short, no near-ties
    questions = [RecallQuestion(passage.title, q.question, q.answer) for q in passage.questions] * 2
    engine.train_candidates(SETS)
    ids = torch.tensor([[1, 5, 9, 13, 17, 21]])
    with torch.no_grad(), engine.candidates.applied() as model:
        stacked = model(input_ids=ids.repeat(len(SETS), 1)).logits
    for i in range(len(SETS)):
        engine.keep_candidate(i)
        with torch.no_grad(), engine.host.using(TRAINING_SLOT) as model:
            torch.testing.assert_close(stacked[i], model(input_ids=ids).logits[0], rtol=1e-4, atol=1e-4)
    together = engine.recall_candidates(questions)
    assert len(together) == len(SETS)
    for i in range(len(SETS)):
        engine.keep_candidate(i)
        alone = engine.recall(questions, TRAINING_SLOT)
        assert [a.text for a in together[i].answers] == [a.text for a in alone.answers]
    assert len({tuple(a.text for a in r.answers) for r in together}) > 1  # adapters answer differently


def test_packing_is_detected_for_llama(tiny):
    from seal_desk.knowledge.inner_loop import packing_works

    assert packing_works(tiny.model, "cpu")


def test_candidates_with_their_own_seeds_match_serial(tiny):
    from dataclasses import replace

    from seal_desk.model.adapters import AdapterHost

    cfg = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=2, lr=1e-2)
    host = AdapterHost(tiny.model)
    seeds = [1, 2, 1]
    serial = []
    for seqs, seed in zip(SETS, seeds):
        train(host, tiny.tokenizer, seqs, replace(cfg, seed=seed))
        serial.append(_slot_weights(host))
    stack, _ = train_candidates(host, tiny.tokenizer, SETS, cfg, seeds=seeds)
    for i in range(len(SETS)):
        stack.export(i)
        for name, weight in _slot_weights(host).items():
            torch.testing.assert_close(weight, serial[i][name], rtol=1e-3, atol=1e-4)


def test_prompt_tokens_carry_no_loss(tiny):
    import random

    from seal_desk.knowledge.inner_loop import batches, completion_example

    ids, n = completion_example(tiny.tokenizer, [5, 6, 7, 8], "hello", 64)
    ((b_ids, labels, mask),) = list(batches([(ids, n)], 1, 0, random.Random(0)))
    assert (labels[0, :4] == -100).all() and (labels[0, 4:] == b_ids[0, 4:]).all()
    assert ids[-1] == tiny.tokenizer.eos_token_id


def test_bf16_training_follows_fp32_serial_and_batched(tiny):
    """bf16 autocast (precision="bf16") learns as fp32 does, step after step (autocast must not keep a
    stale bf16 copy of the adapter), and batched candidates stay close to serial ones."""
    from seal_desk.knowledge.inner_loop import autocast
    from seal_desk.model.adapters import AdapterHost

    fp32 = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=4, lr=1e-2, batch_size=2, precision="fp32")
    bf16 = replace(fp32, precision="bf16")
    host = AdapterHost(tiny.model)
    assert isinstance(autocast(bf16, host.base), torch.autocast)
    assert not isinstance(autocast(fp32, host.base), torch.autocast)
    full = [train(host, tiny.tokenizer, SETS[0], cfg) for cfg in (fp32, bf16)]
    assert full[1].final_loss < 0.8 * full[1].first_loss
    assert abs(full[1].final_loss - full[0].final_loss) < 0.05 * full[0].first_loss
    serial = [train(host, tiny.tokenizer, seqs, bf16) for seqs in SETS]
    _, batched = train_candidates(host, tiny.tokenizer, SETS, bf16)
    for alone, together in zip(serial, batched):
        assert abs(alone.final_loss - together.final_loss) < 0.05 * alone.first_loss


def test_the_convergence_stop_ends_a_candidate_alone_and_stacked_alike(tiny):
    """cfg.stop_loss ends training after the first epoch whose mean loss is under it, one candidate at a time or
    side by side (a stopped candidate drops out of the batch; the others go on unchanged)."""
    from seal_desk.model.adapters import AdapterHost

    cfg = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=6, lr=5e-2)
    host = AdapterHost(tiny.model)
    losses = []
    train(host, tiny.tokenizer, SETS[0], cfg, on_event=lambda e: losses.append((e.epoch, e.loss)))
    second = [loss for epoch, loss in losses if epoch == 2]
    stop = replace(cfg, stop_loss=sum(second) / len(second) + 1e-4)  # set 0 stops after its 2nd epoch
    serial, reports = [], []
    for seqs in SETS:
        reports.append(train(host, tiny.tokenizer, seqs, stop))
        serial.append(_slot_weights(host))
    assert reports[0].steps == 2 * len(SETS[0]) < cfg.epochs * len(SETS[0])
    stack, stacked = train_candidates(host, tiny.tokenizer, SETS, stop)
    assert [r.steps for r in stacked] == [r.steps for r in reports]
    for i in range(len(SETS)):
        stack.export(i)
        for name, weight in _slot_weights(host).items():
            torch.testing.assert_close(weight, serial[i][name], rtol=1e-3, atol=1e-4)


def test_an_early_stop_is_said(tiny):
    """A candidate that converges before its last epoch says so (the TUI log and the CLI print the line)."""
    from seal_desk.events import Message
    from seal_desk.model.adapters import AdapterHost

    events = []
    cfg = InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=6, lr=5e-2, stop_loss=100.0)  # any loss is under
    report = train(AdapterHost(tiny.model), tiny.tokenizer, SETS[0], cfg, on_event=events.append)
    said = [e.text for e in events if isinstance(e, Message)]
    assert report.steps == len(SETS[0])
    assert len(said) == 1 and said[0].startswith("inner loop converged: epoch 1/6 mean loss")
    assert said[0].endswith(f"stopped at step {len(SETS[0])}/{6 * len(SETS[0])}")
