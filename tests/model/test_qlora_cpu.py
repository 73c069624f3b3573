"""QLoRA on the CPU: the whole product path on a 4-bit NF4 tiny model (bitsandbytes' CPU kernels).

A GPU user's first `learn` runs exactly this path (Linear4bit base, bf16 compute, fp32 LoRA), so
every step of it is exercised here on every CI run: load, learn, k stacked candidates, adapter
save/reload with plain PEFT, merged export, an outer-loop round with the generator SFT and merge,
ARC test-time training, and the decode paths.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("bitsandbytes")

from seal_desk.events import Message  # noqa: E402
from seal_desk.knowledge.documents import Document  # noqa: E402


@pytest.fixture
def tiny4():
    from seal_desk.model.loader import load_tiny

    return load_tiny(quant="nf4")


@pytest.fixture
def engine4(tiny4, workspace, fast_config):
    """Short generations: bitsandbytes' CPU kernels make each 4-bit decode step slow."""
    from dataclasses import replace

    from seal_desk.engine import Engine

    short = replace(
        fast_config,
        self_edit=replace(fast_config.self_edit, max_new_tokens=8),
        recall=replace(fast_config.recall, max_new_tokens=4),
    )
    return Engine(tiny4, workspace, short)


def _linear4bit(model) -> list:
    import bitsandbytes as bnb

    return [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def _trained(engine, passage) -> tuple[int, str]:
    """A saved adapter trained on the passage (the inner loop alone: learn() is covered above)."""
    engine.train_on([f"{passage.title}\n{passage.text}"])
    return engine.save_trained("zorblat")


def test_nf4_on_cpu_loads_with_a_one_line_note(tmp_path):
    from seal_desk.model.loader import load

    seen = []
    loaded = load("tiny-random", "cpu", "nf4", on_event=seen.append)
    assert loaded.placement.quantization == "nf4" and loaded.placement.device == "cpu"
    assert len(_linear4bit(loaded.model)) == 2 * 7  # every projection of both layers is 4-bit
    notes = [e.text for e in seen if isinstance(e, Message) and e.level == "warning"]
    assert len(notes) == 1 and "slow" in notes[0] and "\n" not in notes[0]


def test_learn_end_to_end_in_4bit_keeps_embeddings_unconverted(engine4, workspace, passage):
    embed_dtype = engine4.loaded.model.get_input_embeddings().weight.dtype
    result = engine4.learn(Document("inline", "Zorblat", [passage]), k=1)
    assert result.train.steps > 0 and result.train.final_loss == result.train.final_loss  # not NaN
    assert len(result.after.answers) == 2 and result.adapter_id is not None
    # QLoRA without the fp32 up-cast: embeddings and lm_head stay in the compute dtype
    assert engine4.host.base.get_input_embeddings().weight.dtype == embed_dtype == torch.bfloat16
    lora = [p for n, p in engine4.host.peft.named_parameters() if "lora_" in n]
    assert lora and all(p.dtype == torch.float32 for p in lora)
    assert len(_linear4bit(engine4.host.peft)) == 14, "LoRA sits on the 4-bit layers"


def test_stacked_candidates_over_linear4bit_match_one_by_one(engine4, passage):
    from seal_desk.engine import asked_for

    sets = [[passage.text], [passage.text, "Mira Kostadinova founded Zorblat in 1987."]]
    seed = engine4.run_config.inner.seed
    engine4.train_candidates(sets, seeds=[seed, seed])
    stacked = engine4.answer_scores(asked_for([passage]))
    reports = engine4.recall_candidates(asked_for([passage]))
    assert len(reports) == 2 and all(len(r.answers) == 2 for r in reports)
    for i, seqs in enumerate(sets):  # each alone, same seed: the same adapter up to bf16 rounding
        engine4.train_on(seqs)
        with engine4.host.using("default") as model:
            from seal_desk.knowledge.answer_likelihood import answer_logprobs, mean_logprob

            alone = mean_logprob(
                answer_logprobs(model, engine4.tokenizer, engine4.loaded.prompt_style, asked_for([passage]))[0]
            )
        assert abs(alone - stacked[i]) < 0.05


def test_adapter_saved_on_4bit_reloads_with_plain_peft(engine4, passage):
    from peft import PeftModel

    from seal_desk.model.loader import load_tiny

    adapter_id, path = _trained(engine4, passage)
    ids = torch.tensor([engine4.tokenizer("Zorblat Industries was founded")["input_ids"]])
    with engine4.host.using("default") as model:
        ours = _logits(model, ids)
    plain = PeftModel.from_pretrained(load_tiny(quant="nf4").model, path)
    assert torch.allclose(_logits(plain, ids), ours, atol=1e-3)


def test_merged_export_from_4bit_is_dequantised_and_loads_with_plain_transformers(engine4, passage, tmp_path):
    from transformers import AutoModelForCausalLM

    from seal_desk.model.export import export_adapter

    adapter_id, _ = _trained(engine4, passage)
    record = engine4.workspace.adapter(adapter_id)
    out = export_adapter(record, tmp_path / "merged", engine4)
    config = (out / "config.json").read_text()
    assert "quantization_config" not in config
    merged = AutoModelForCausalLM.from_pretrained(str(out), use_safetensors=True)
    assert not _linear4bit(merged)
    ids = torch.tensor([engine4.tokenizer("Zorblat Industries was founded")["input_ids"]])
    engine4.load_adapter(adapter_id)
    with engine4.host.using(engine4.adapter_name(adapter_id)) as model:
        ours = _logits(model, ids)
    theirs = _logits(merged, ids)  # 4-bit + LoRA against its bf16 merge: equal up to bf16 rounding
    assert (theirs - ours).abs().mean() < 0.05 and (theirs.argmax(-1) == ours.argmax(-1)).float().mean() > 0.9
    assert engine4.host.peft is not None and len(_linear4bit(engine4.host.peft)) == 14, "resident model untouched"


def test_one_outer_loop_round_in_4bit_trains_and_saves_a_generator(engine4, workspace, tmp_path, monkeypatch):
    from dataclasses import replace

    from seal_desk.config import LoraSettings, OuterLoopConfig
    from seal_desk.knowledge.documents import Passage, Question
    from seal_desk.model.loader import load, load_tiny
    from seal_desk.model.source import generator_mark
    from seal_desk.restem.loop import RestEM
    from seal_desk.restem.records import RlRecords

    passages = [
        Passage(f"Place {i}", f"Place {i} was founded by {n}.", [Question(f"Who founded Place {i}?", n)])
        for i, n in enumerate(["Ada Brin", "Tomas Vey"])
    ]
    engine4.config = replace(engine4.config, self_edit=replace(engine4.config.self_edit, max_new_tokens=8))
    cfg = OuterLoopConfig(
        rounds=1, passages=2, k=2, eval_times=1, sft_epochs=1, sft_lr=1e-2, reward="answer-logprob",
        sft_lora=LoraSettings(r=4, alpha=8),
    )  # fmt: skip
    records = RlRecords(workspace, str(tmp_path / "run"), engine4.loaded.name, "test", {"outer": "x"})
    monkeypatch.setattr("seal_desk.restem.records.PassageOutcome.kept", property(lambda self: True))
    loop = RestEM(engine4, records, cfg, tmp_path / "run", lambda p: load_tiny(quant="nf4") if p is None else None)
    (done,) = loop.run(passages)
    assert done.sft_examples == 2 and done.generator
    gen = load(done.generator, "cpu")  # a plain checkpoint: dequantised weights, no bitsandbytes needed
    assert not _linear4bit(gen.model) and generator_mark(done.generator)["base"] == engine4.loaded.name
    assert (tmp_path / "run" / "round-1" / "adapter" / "adapter_model.safetensors").is_file()


def test_arc_test_time_training_in_4bit(tiny4, fast_config):
    from seal_desk.arc.self_edit import ArcSelfEdit
    from seal_desk.arc.ttt import solve
    from seal_desk.config import FewShotConfig, LoraSettings
    from seal_desk.engine import Engine
    from tests.arc.arc_helpers import flip_task

    engine = Engine(tiny4, None, fast_config)
    settings = FewShotConfig(lora=LoraSettings(r=4, alpha=8), max_examples=4, max_epochs=1)
    result = solve(engine, flip_task(), settings, ArcSelfEdit(learning_rate=1e-2, epochs=1))
    assert result.valid and result.train is not None and result.train.steps > 0
    assert len(result.predictions) == len(flip_task().test)


def test_decode_paths_fall_back_from_the_lean_decoder_on_4bit(tiny4):
    from seal_desk.errors import ModelError
    from seal_desk.model import fast_decode
    from seal_desk.model.generation import generate

    assert not fast_decode.supported(tiny4.model)
    assert "Linear4bit" in fast_decode.unsupported_reason(tiny4.model)
    prompt = tiny4.tokenizer("The capital of France is")["input_ids"]
    greedy = generate(tiny4.model, tiny4.tokenizer, [prompt, prompt[:3]], max_new_tokens=5, stop_ids=[])
    again = generate(tiny4.model, tiny4.tokenizer, [prompt, prompt[:3]], max_new_tokens=5, stop_ids=[])
    assert [len(g) > 0 for g in greedy] == [True, True] and greedy == again
    sampled = generate(
        tiny4.model, tiny4.tokenizer, [prompt] * 3, max_new_tokens=5, stop_ids=[], temperature=1.0, seed=1
    )
    assert len(sampled) == 3
    with pytest.raises(ModelError, match="fast decode"):
        generate(tiny4.model, tiny4.tokenizer, [prompt], max_new_tokens=2, stop_ids=[], fast=True)
