"""The inner loop's memory options: gradient checkpointing (on, off, auto from the VRAM planner) and paged 8-bit AdamW."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

SEQS = ["Zorblat Industries was founded in 1987 by Mira Kostadinova.", "Velmora is a town by the sea."]


def _with(engine, **inner):
    engine.config = replace(engine.config, inner=replace(engine.config.inner, **inner))
    return engine


def _slot(engine) -> list[torch.Tensor]:
    return [p.detach().clone() for n, p in engine.host.peft.named_parameters() if "lora_" in n and ".default." in n]


def test_gradient_checkpointing_trains_the_same_adapter(tiny_engine):
    plain = _with(tiny_engine, gradient_checkpointing="off").train_on(SEQS)
    before = _slot(tiny_engine)
    assert not tiny_engine.host.checkpointing
    ckpt = _with(tiny_engine, gradient_checkpointing="on").train_on(SEQS)
    assert tiny_engine.host.checkpointing and tiny_engine.host.base.is_gradient_checkpointing
    assert ckpt.final_loss == pytest.approx(plain.final_loss, rel=1e-4)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(before, _slot(tiny_engine)))
    _with(tiny_engine, gradient_checkpointing="off").train_on(SEQS)
    assert not tiny_engine.host.base.is_gradient_checkpointing, "switched back off"
    for mode in ("on", "off", "on"):  # toggling leaves one input-grad hook at most, none when off
        _with(tiny_engine, gradient_checkpointing=mode).train_on(SEQS[:1])
        assert len(getattr(tiny_engine.host.base, "_require_grads_hooks", None) or []) == (mode == "on")


def test_gradient_checkpointing_saves_fewer_activations(tiny_engine):
    """On means fewer tensors kept for backward (the point of it), not just a flag."""
    kept = {}
    for mode in ("off", "on"):
        engine = _with(tiny_engine, gradient_checkpointing=mode)
        engine.host.prepare(engine.run_config.inner.lora, 0)
        engine.host.use_checkpointing(mode == "on")
        ids = torch.tensor([engine.tokenizer(SEQS[0])["input_ids"]])
        count = [0]

        def pack(t, count=count):
            count[0] += 1
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            engine.host.peft.train()
            engine.host.peft(input_ids=ids, labels=ids).loss.backward()
        kept[mode] = count[0]
    assert kept["on"] < kept["off"] / 2, kept


def test_gradient_checkpointing_with_stacked_candidates(tiny_engine):
    sets = [SEQS, SEQS[:1]]
    plain = _with(tiny_engine, gradient_checkpointing="off").train_candidates(sets, seeds=[1, 2])
    ckpt = _with(tiny_engine, gradient_checkpointing="on").train_candidates(sets, seeds=[1, 2])
    for a, b in zip(plain, ckpt):
        assert b.final_loss == pytest.approx(a.final_loss, rel=1e-4)


def test_paged_8bit_adamw_trains(tiny_engine):
    pytest.importorskip("bitsandbytes")
    report = _with(tiny_engine, optimizer="paged-adamw-8bit", epochs=4).train_on(SEQS)
    assert report.final_loss < report.first_loss


def test_unknown_optimizer_is_one_line():
    from seal_desk.errors import ModelError
    from seal_desk.model.optimizers import make_optimizer

    with pytest.raises(ModelError, match="unknown optimizer 'sgd'"):
        make_optimizer([torch.nn.Parameter(torch.zeros(2))], "sgd", 1e-3)


def test_auto_checkpointing_follows_the_planner_on_a_gpu(tiny_engine, monkeypatch):
    from seal_desk.model.device import Placement
    from seal_desk.model.presets import get_preset
    from seal_desk.model.source import ModelSource

    engine = _with(tiny_engine, gradient_checkpointing="auto")
    assert engine.checkpointing(5) is False, "never on the CPU"
    engine.loaded.source = ModelSource("qwen2.5-7b", "hub", "Qwen/Qwen2.5-7B", get_preset("qwen2.5-7b"))
    engine.loaded.placement = Placement("cuda", "nf4")

    class Card:
        def __init__(self, gib):
            self.total_memory = gib * 2**30

    for gib, expected in ((8, True), (80, False)):
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i, g=gib: Card(g))
        assert engine.checkpointing(5) is expected
    assert _with(engine, gradient_checkpointing="off").checkpointing(5) is False
    assert _with(engine, gradient_checkpointing="on").checkpointing(1) is True


def test_adamw_is_the_fused_kernel_with_the_same_update():
    """make_optimizer's AdamW runs fused (one kernel for all tensors) and steps exactly as the per-tensor loop."""
    from seal_desk.model.optimizers import make_optimizer

    torch.manual_seed(0)
    start = [torch.randn(8, 16), torch.randn(16, 4)]
    grads = [[torch.randn_like(t) for t in start] for _ in range(3)]
    ours = [torch.nn.Parameter(t.clone()) for t in start]
    plain = [torch.nn.Parameter(t.clone()) for t in start]
    fused = make_optimizer(ours, "adamw", 1e-2, 0.01)
    loop = torch.optim.AdamW(plain, lr=1e-2, weight_decay=0.01, foreach=False)
    assert fused.defaults["fused"] is True
    for step in grads:
        for params, opt in ((ours, fused), (plain, loop)):
            for p, g in zip(params, step):
                p.grad = g.clone()
            opt.step()
    for a, b in zip(ours, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
