import random

import pytest
import torch

from seal_desk.config import InnerLoopConfig, LoraSettings
from seal_desk.errors import Cancelled
from seal_desk.events import CancelToken, TrainStep
from seal_desk.knowledge.inner_loop import batches, encode, train
from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost

CFG = InnerLoopConfig(lora=LoraSettings(r=8, alpha=16), epochs=8, lr=3e-2, batch_size=2)
SEQS = [
    "Zorblat\nMira Kostadinova founded Zorblat in 1987.",
    "Zorblat\nThe company makes ceramic wind turbines.",
    "Zorblat\nIts headquarters moved to Port Ellin.",
]


def lora_b_norm(host):
    return sum(
        float(p.detach().abs().sum())
        for n, p in host.peft.named_parameters()
        if "lora_B" in n and f".{TRAINING_SLOT}." in n
    )


def test_dynamic_padding_pads_to_batch_longest(tiny):
    examples = encode(tiny.tokenizer, ["a", "a much longer training sequence here"], 64)
    widths = sorted(ids.shape[1] for ids, _, _ in batches(examples, 1, 0, random.Random(0)))
    assert widths == sorted(len(e) for e in examples)
    ((ids, labels, mask),) = list(batches(examples, 2, 0, random.Random(0)))
    assert ids.shape[1] == max(len(e) for e in examples)
    assert (labels[mask == 0] == -100).all()
    assert examples[0][-1] == tiny.tokenizer.eos_token_id


def test_training_lowers_loss_and_each_candidate_starts_fresh(tiny):
    host = AdapterHost(tiny.model)
    steps = []
    report = train(host, tiny.tokenizer, SEQS, CFG, on_event=steps.append)
    assert report.steps == 16 == len(steps) and isinstance(steps[0], TrainStep)
    assert report.final_loss < report.first_loss * 0.7
    assert steps[-1].lr < steps[0].lr  # linear decay
    assert lora_b_norm(host) > 0
    base_params = [p for n, p in host.peft.named_parameters() if "lora_" not in n]
    assert not any(p.requires_grad for p in base_params)
    host.prepare(CFG.lora, seed=1)  # a fresh candidate: B back to zero, no reload
    assert lora_b_norm(host) == 0
    second = train(host, tiny.tokenizer, SEQS, CFG)
    assert second.first_loss == pytest.approx(report.first_loss, rel=1e-4)


def test_same_seed_same_adapter(tiny):
    host = AdapterHost(tiny.model)
    train(host, tiny.tokenizer, SEQS, CFG)
    a = {n: p.detach().clone() for n, p in host.peft.named_parameters() if "lora_" in n}
    train(host, tiny.tokenizer, SEQS, CFG)
    b = {n: p.detach().clone() for n, p in host.peft.named_parameters() if "lora_" in n}
    assert all(torch.allclose(a[n], b[n]) for n in a)


def test_adapter_off_gives_base_model(tiny):
    ids = torch.tensor([tiny.tokenizer("The quick brown fox")["input_ids"]])
    with torch.no_grad():
        before = tiny.model(ids).logits.clone()
    host = AdapterHost(tiny.model)
    train(host, tiny.tokenizer, SEQS, CFG)
    with torch.no_grad(), host.using(None) as m:
        off = m(ids).logits
    with torch.no_grad(), host.using(TRAINING_SLOT) as m:
        on = m(ids).logits
    assert torch.allclose(before, off, atol=1e-5)
    assert not torch.allclose(before, on, atol=1e-3)


def test_cancel_stops_within_a_step(tiny):
    host = AdapterHost(tiny.model)
    token = CancelToken()
    seen = []

    def on_event(event):
        seen.append(event)
        if len(seen) == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        train(host, tiny.tokenizer, SEQS, CFG, on_event=on_event, cancel=token)
    assert len(seen) == 3
    assert not host.peft.training


def test_group_by_length_batches_similar_lengths_and_keeps_every_example():
    import random

    from seal_desk.knowledge.inner_loop import batches

    examples = [[1] * n for n in (3, 40, 4, 41, 5, 42, 6, 43)]
    plain = list(batches(examples, 2, 0, random.Random(0)))
    grouped = list(batches(examples, 2, 0, random.Random(0), group_by_length=True))
    assert sum(int(m.sum()) for _, _, m in grouped) == sum(int(m.sum()) for _, _, m in plain) == 184
    width = lambda bs: sum(ids.numel() for ids, _, _ in bs)  # noqa: E731 - padded cells
    assert width(grouped) < width(plain) and all(ids.shape[1] in (4, 6, 41, 43) for ids, _, _ in grouped)


def test_logits_only_at_targets_give_the_models_own_loss_and_gradients(tiny):
    """target_loss projects onto the vocabulary only where a next token is trained (prompt positions of a QA
    item are not): the loss and the LoRA gradients equal the model's own loss over the labelled positions,
    for rows of different lengths, and a model without `logits_to_keep` falls back to its own loss."""
    from seal_desk.knowledge.inner_loop import target_loss

    host = AdapterHost(tiny.model)
    host.prepare(LoraSettings(r=4, alpha=8), 0)
    model = host.peft
    ids = torch.randint(5, 200, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    labels = ids.clone()
    labels[:, :7] = -100  # a prompt: no loss there
    labels[1, 9:] = -100
    params = host.trainable_parameters()

    def grads(loss):
        for p in params:
            p.grad = None
        loss.backward()
        return [p.grad.clone() for p in params]

    torch.manual_seed(0)
    own = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    rows = []
    hook = model.get_output_embeddings().register_forward_hook(
        lambda m, i, o: rows.append(o.reshape(-1, o.shape[-1]).shape[0])
    )
    ours = target_loss(model, ids, mask, labels)
    hook.remove()
    assert rows == [int((labels[:, 1:] != -100).sum())]  # the projection ran at the targets alone
    torch.testing.assert_close(ours, own)
    for a, b in zip(grads(ours), grads(model(input_ids=ids, attention_mask=mask, labels=labels).loss)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

    class NoSlicing(torch.nn.Module):
        def forward(self, input_ids, attention_mask, labels=None, **kwargs):
            if kwargs:
                raise TypeError("unexpected keyword 'logits_to_keep'")
            return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    torch.testing.assert_close(target_loss(NoSlicing(), ids, mask, labels), own)

    class Ignores(torch.nn.Module):  # takes **kwargs and leaves the mask unused: all positions' logits
        def forward(self, input_ids, attention_mask, labels=None, **kwargs):
            return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    ignores = Ignores()
    torch.testing.assert_close(target_loss(ignores, ids, mask, labels), own)
    from seal_desk.knowledge.inner_loop import _NO_MASKED_LOGITS

    assert ignores in _NO_MASKED_LOGITS and model not in _NO_MASKED_LOGITS  # asked once, not every step
