import pytest
import torch

from seal_desk.errors import Cancelled
from seal_desk.events import CancelToken
from seal_desk.model.generation import generate


def test_batched_greedy_matches_one_by_one(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    prompts = [tok(t)["input_ids"] for t in ("The quick brown fox", "Paris", "Question: Answer: Topic: the lazy dog")]
    alone = [generate(model, tok, [p], max_new_tokens=8, stop_ids=[-1])[0] for p in prompts]
    batched = generate(model, tok, prompts, max_new_tokens=8, stop_ids=[-1])
    assert batched == alone
    # and both equal HF generate's greedy output for the first prompt
    ref = model.generate(
        torch.tensor([prompts[0]]), max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id
    )[0, len(prompts[0]) :].tolist()
    assert alone[0] == ref


def test_sampling_is_seeded_and_streams(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    prompt = tok("Implications:")["input_ids"]
    seen = {}
    a = generate(
        model,
        tok,
        [prompt] * 2,
        max_new_tokens=10,
        stop_ids=[-1],
        temperature=1.0,
        top_p=0.95,
        seed=3,
        on_text=lambda row, text: seen.setdefault(row, []).append(text),
    )
    b = generate(model, tok, [prompt] * 2, max_new_tokens=10, stop_ids=[-1], temperature=1.0, top_p=0.95, seed=3)
    assert a == b and a[0] != a[1]
    assert "".join(seen[0]) == tok.decode(a[0], skip_special_tokens=True)


def test_stop_token_ends_a_row(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    prompt = tok("The quick")["input_ids"]
    other = tok("Question: Answer: Topic: the lazy dog")["input_ids"]
    first, second = generate(model, tok, [prompt, other], max_new_tokens=6, stop_ids=[-1])
    assert first[0] not in second
    a, b = generate(model, tok, [prompt, other], max_new_tokens=6, stop_ids=[first[0]])
    assert a == [] and b == second


def test_cancel(tiny_loaded):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        generate(tiny_loaded.model, tiny_loaded.tokenizer, [[1, 2, 3]], max_new_tokens=4, stop_ids=[-1], cancel=token)
