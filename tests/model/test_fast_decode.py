"""The lean decode path gives the HF forward's tokens, follows adapter changes, and falls back when it must."""

import pytest
import torch

from seal_desk.config import LoraSettings
from seal_desk.errors import ModelError
from seal_desk.model import fast_decode
from seal_desk.model.adapters import TRAINING_SLOT, AdapterHost
from seal_desk.model.device import cpu_packed_bf16
from seal_desk.model.generation import generate

TEXTS = ("The quick brown fox", "Paris", "Question: Answer: Topic: the lazy dog")


@pytest.fixture(autouse=True)
def exact(monkeypatch):
    """Sampling may use bf16 matmuls, which legitimately drift from the fp32 HF forward: compare exact."""
    monkeypatch.setattr(fast_decode, "BF16", False)


def both(model, tok, prompts, **kw):
    kw = {"max_new_tokens": 12, "stop_ids": [-1], **kw}
    return generate(model, tok, prompts, fast=True, **kw), generate(model, tok, prompts, fast=False, **kw)


def test_greedy_and_sampling_match_hf_forward(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    prompts = [tok(t)["input_ids"] for t in TEXTS]  # different lengths: left-padded
    assert fast_decode.supported(model)
    fast, slow = both(model, tok, prompts[:1])
    assert fast == slow and len(fast[0]) == 12
    fast, slow = both(model, tok, prompts)
    assert fast == slow
    fast, slow = both(model, tok, prompts, temperature=1.0, top_p=0.9, seed=5)
    assert fast == slow
    fast, slow = both(model, tok, [prompts[2]] * 3, temperature=1.0, seed=5)  # one prompt, prefilled once
    assert fast == slow and fast[0] != fast[1]


def test_stop_tokens_and_streaming_on_the_fast_path(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    prompts = [tok(t)["input_ids"] for t in TEXTS]
    first = generate(model, tok, prompts, max_new_tokens=6, stop_ids=[-1], fast=True)
    seen = {}
    cut = generate(
        model,
        tok,
        prompts,
        max_new_tokens=6,
        stop_ids=[first[0][2]],
        fast=True,
        on_text=lambda row, text: seen.setdefault(row, []).append(text),
    )
    assert cut[0] == first[0][:2]
    assert seen and all("".join(seen[row]) == tok.decode(cut[row], skip_special_tokens=True) for row in seen)


def lora_host(tiny, seed=0):
    host = AdapterHost(tiny.model)
    host.prepare(LoraSettings(r=4, alpha=8), seed)
    perturb(host, seed)
    return host


def perturb(host, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in host.peft.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)


def test_active_lora_is_folded_and_followed(tiny):
    tok = tiny.tokenizer
    prompts = [tok(t)["input_ids"] for t in TEXTS]
    base = generate(tiny.model, tok, prompts, max_new_tokens=12, stop_ids=[-1], fast=False)
    host = lora_host(tiny)
    with host.using(TRAINING_SLOT) as model:
        assert fast_decode.supported(model)
        fast, slow = both(model, tok, prompts)
        assert fast == slow and fast != base
        perturb(host, seed=1)  # retrained adapter: same tensors, new values
        fast2, slow2 = both(model, tok, prompts)
        assert fast2 == slow2 and fast2 != fast
    with host.using(None) as model:  # adapters disabled: the bare base
        assert both(model, tok, prompts) == (base, base)


def test_replaced_weights_are_not_served_stale(tiny_loaded):
    tok, model = tiny_loaded.tokenizer, tiny_loaded.model
    prompt = [tok(TEXTS[0])["input_ids"]]
    before = generate(model, tok, prompt, max_new_tokens=8, stop_ids=[-1], fast=True)
    weight = model.model.layers[0].mlp.down_proj.weight
    old = weight.data
    try:
        weight.data = old * -3.0  # a new tensor behind the same Parameter
        fast, slow = both(model, tok, prompt, max_new_tokens=8)
        assert fast == slow != before
    finally:
        weight.data = old
    assert generate(model, tok, prompt, max_new_tokens=8, stop_ids=[-1], fast=True) == before


def test_unsupported_models_fall_back(tiny_loaded):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tiny_loaded.tokenizer
    prompt = [tok(TEXTS[0])["input_ids"]]
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2)).eval()
    assert "gpt2" in fast_decode.unsupported_reason(gpt2)
    assert len(generate(gpt2, tok, prompt, max_new_tokens=4, stop_ids=[-1])[0]) == 4
    with pytest.raises(ModelError):
        generate(gpt2, tok, prompt, max_new_tokens=4, stop_ids=[-1], fast=True)

    model = tiny_loaded.model
    handle = model.model.layers[1].mlp.register_forward_hook(lambda mod, args, out: out * 0)
    try:
        assert "hook" in fast_decode.unsupported_reason(model)
        hooked = generate(model, tok, prompt, max_new_tokens=8, stop_ids=[-1])
        assert hooked == generate(model, tok, prompt, max_new_tokens=8, stop_ids=[-1], fast=False)
    finally:
        handle.remove()
    assert hooked != generate(model, tok, prompt, max_new_tokens=8, stop_ids=[-1])
    half = tiny_config_model("Llama", tok).to(torch.bfloat16)  # greedy: the HF forward's bf16 rounding
    with pytest.raises(ModelError, match="fp32"):
        generate(half, tok, prompt, max_new_tokens=4, stop_ids=[-1], fast=True)
    assert generate(half, tok, prompt, max_new_tokens=8, stop_ids=[-1]) == generate(
        half, tok, prompt, max_new_tokens=8, stop_ids=[-1], fast=False
    )
    model.train()  # training mode matters only where it turns dropout on
    try:
        assert fast_decode.supported(model)
        model.config.attention_dropout = 0.1
        assert "dropout" in fast_decode.unsupported_reason(model)
    finally:
        model.config.attention_dropout = 0.0
        model.eval()


def tiny_config_model(kind, tok, **extra):
    import transformers

    config = getattr(transformers, f"{kind}Config")(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        **extra,
    )
    torch.manual_seed(0)
    model = getattr(transformers, f"{kind}ForCausalLM")(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(std=0.2) if name.endswith("bias") or "proj" in name else None
    return model


def test_qwen2_biases_and_mistral_window(tiny_loaded):
    tok = tiny_loaded.tokenizer
    prompts = [tok(t)["input_ids"] for t in TEXTS]
    qwen = tiny_config_model("Qwen2", tok)
    assert qwen.model.layers[0].self_attn.q_proj.bias is not None and fast_decode.supported(qwen)
    fast, slow = both(qwen, tok, prompts)
    assert fast == slow
    mistral = tiny_config_model("Mistral", tok, sliding_window=16)
    fast, slow = both(mistral, tok, prompts[:1], max_new_tokens=8)  # 5 + 8 tokens fit the window
    assert fast == slow
    with pytest.raises(ModelError):  # a longer run would need the window: refused, and the default falls back
        generate(mistral, tok, prompts, max_new_tokens=8, stop_ids=[-1], fast=True)
    fell_back = generate(mistral, tok, prompts, max_new_tokens=8, stop_ids=[-1])
    assert fell_back == generate(mistral, tok, prompts, max_new_tokens=8, stop_ids=[-1], fast=False)


needs_packed_bf16 = pytest.mark.skipif(not cpu_packed_bf16(), reason="this CPU has no oneDNN packed bf16 linear")


def test_without_packed_bf16_the_decoder_stays_exact(tiny, monkeypatch):
    from seal_desk.model import device

    monkeypatch.setattr(fast_decode, "BF16", True)
    monkeypatch.setattr(device, "_PACKED_BF16", [False])
    assert fast_decode.decoder(tiny.model, exact=False).key[1] is None


@needs_packed_bf16
def test_bf16_decoder_stays_close_and_folds_lora(tiny, monkeypatch):
    tok = tiny.tokenizer
    ids = torch.tensor([tok(TEXTS[2])["input_ids"][:6]])
    host = lora_host(tiny)

    def logits(model, bf16):
        monkeypatch.setattr(fast_decode, "BF16", bf16)
        dec = fast_decode.decoder(model, exact=not bf16)
        with torch.inference_mode():
            return dec.forward(fast_decode.Session(dec, torch.ones_like(ids), 1), ids)

    for adapter, retrain in ((None, False), (TRAINING_SLOT, False), (TRAINING_SLOT, True)):
        if retrain:  # the folded bf16 copy must follow new adapter weights
            perturb(host, seed=1)
        with host.using(adapter) as model, torch.inference_mode():
            ref = model(input_ids=ids).logits[:, -1]
            torch.testing.assert_close(logits(model, False), ref, rtol=1e-5, atol=1e-5)
            rough = logits(model, True)
            assert (rough - ref).abs().max() < 0.03 * ref.abs().max()
            assert rough.argmax() == ref.argmax()


def on_4bit_grid(model) -> None:
    """Round every layer projection to min + scale·q (q in 0..15) per 32 inputs, as a Q4_1 GGUF stores it."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".layers." in name and name.endswith("proj.weight"):
                groups = param.reshape(param.shape[0], -1, 32)
                low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
                scale = (high - low) / 15
                param.copy_((((groups - low) / scale).round() * scale + low).reshape(param.shape))


@needs_packed_bf16
def test_int4_copies_only_where_lossless_and_decode_stays_close(tiny, monkeypatch):
    monkeypatch.setattr(fast_decode, "BF16", True)
    tok, model = tiny.tokenizer, tiny.model
    dec = fast_decode.decoder(model, exact=False)
    assert all(lin.int4 is None for layer in dec.layers for lin in layer[1:3] + layer[4:])  # random weights
    on_4bit_grid(model)
    prompts = [tok(TEXTS[2])["input_ids"][:6]]
    with torch.inference_mode():
        ref = model(input_ids=torch.tensor(prompts)).logits[:, -1]
        dec = fast_decode.decoder(model, exact=False)
        assert all(lin.int4 is not None for layer in dec.layers for lin in layer[1:3] + layer[4:])
        for rows in (1, fast_decode.INT4_ROWS + 1):  # one row decodes through int4, more through packed bf16
            ids = torch.tensor(prompts * rows)
            session = fast_decode.Session(dec, torch.ones_like(ids), 2)
            dec.forward(session, ids[:, :-1])
            logits = dec.forward(session, ids[:, -1:])
            assert (logits - ref).abs().max() < 0.03 * ref.abs().max()
            assert bool((logits.argmax(-1) == ref.argmax(-1)).all())
    host = lora_host(tiny)  # a folded adapter moves the weights off the grid: bf16 only
    with host.using(TRAINING_SLOT) as adapted, torch.inference_mode():
        dec = fast_decode.decoder(adapted, exact=False)
        assert all(lin.int4 is None for layer in dec.layers for lin in layer[1:3] + layer[4:])
        sampled = generate(adapted, tok, prompts, max_new_tokens=8, stop_ids=[-1], temperature=1.0, seed=0)
        assert len(sampled[0]) == 8
