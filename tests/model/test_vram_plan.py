"""The VRAM planner against figures worked out by hand, and its activation count against a measured one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from seal_desk.model import vram_plan as vp

# A small Llama-like model: every figure below follows from these numbers.
SMALL = {
    "model_type": "llama",
    "hidden_size": 64,  # h
    "intermediate_size": 128,  # I
    "num_hidden_layers": 2,  # L
    "num_attention_heads": 4,  # head_dim = 64 / 4 = 16, qd = 64
    "num_key_value_heads": 2,  # kvd = 32
    "vocab_size": 1000,  # V
    "tie_word_embeddings": True,
}
ARCH = vp.Architecture.from_config(SMALL)
SETTINGS = vp.PlanSettings(
    quantization="nf4",  # a = 2
    lora_r=4,
    k=1,
    batch_size=1,
    seq_len=10,  # T = 10
    precision="fp32",
    gen_new=5,
    recall_batch=2,
    recall_prompt=8,
    recall_new=3,
)


def test_parameters_by_hand():
    # per layer: q 64·64 + k 64·32 + v 64·32 + o 64·64 + gate 64·128 + up 64·128 + down 128·64
    per_layer = 4096 + 2048 + 2048 + 4096 + 8192 + 8192 + 8192
    assert per_layer == 36864
    assert ARCH.linear_params == 2 * 36864 == 73728
    # tied embedding 1000·64, norms 2 per layer + the final one, no biases (Llama)
    assert ARCH.other_params == 64000 + (2 * 2 * 64 + 64) == 64320
    assert ARCH.params == 138048
    # LoRA r=4 on all 7: r·(in+out) = 4·(128 + 96 + 96 + 128 + 192 + 192 + 192) = 4096 per layer
    assert vp.lora_params(ARCH, SETTINGS) == 2 * 4096 == 8192


def test_nf4_weights_by_hand():
    plan = vp.estimate(ARCH, SETTINGS)
    # 4-bit codes 73728/2 = 36864, 8-bit absmax 73728/64 = 1152, fp32 absmax2 4·73728/(64·256) = 18
    # bf16 embeddings and norms 64320·2 = 128640
    assert plan.weights == 36864 + 1152 + 18 + 128640 == 166674
    assert plan.dequant == 2 * (128 * 64)  # the largest Linear dequantised to bf16


def test_training_terms_by_hand():
    plan = vp.estimate(ARCH, SETTINGS)
    assert plan.lora_weights == 4 * 8192 == 32768
    assert plan.lora_grads == 32768
    assert plan.optimizer == 8 * 8192 == 65536  # AdamW: two fp32 moments
    # one layer, per token (a = 2; precision fp32: each LoRA keeps an fp32 copy of its input)
    norms = 2 * 4 * 64  # 512
    attention = 2 * (2 * 64 + 2 * 32) + 4 * 4  # q, k, v, out + logsumexp: 400
    mlp = 3 * 2 * 128  # 768
    lora = 4 * (64 + 64 + 64 + 64 + 64 + 64 + 128) + 7 * 4 * 4  # inputs of q k v o gate up down, A outputs: 2160
    assert vp.layer_activation_bytes(ARCH, SETTINGS) == norms + attention + mlp + lora == 3840
    assert plan.activations == (2 * 3840 + 4 * 64) * 10 == 79360  # L layers + final norm, T = 10
    assert plan.logits == (2 + 12) * 1000 * 10 == 140000
    assert plan.recompute == 0
    assert plan.training == 166674 + 32768 + 32768 + 65536 + 16384 + 79360 + 140000 == 533490


def test_generation_and_total_by_hand():
    plan = vp.estimate(ARCH, SETTINGS)
    # self-edit sampling: 1 sequence (k), prompt 10 (seq_len), 5 new tokens
    kv = 2 * 2 * 32 * (10 + 5) * 1 * 2  # 2 · L · kvd · tokens · batch · a = 3840
    prefill = 1 * 10 * 2 * (1000 + 3 * 128)  # logits of every prompt position + one MLP: 27680
    assert plan.sampling == kv + prefill == 31520
    # recall: 2 questions for the 1 candidate, prompt 8, 3 new tokens
    assert plan.recall == 2 * 2 * 32 * 11 * 2 * 2 + 2 * 8 * 2 * 1384 == 49920
    assert plan.generation == 166674 + 32768 + 49920
    assert plan.total == 533490 + 512 * 2**20  # training is the larger phase, plus the CUDA overhead


def test_checkpointing_by_hand():
    plan = vp.estimate(ARCH, replace(SETTINGS, checkpointing=True))
    assert plan.activations == (2 * 2 * 64 + 4 * 64) * 10 == 5120  # each layer's input, a·h, + final norm
    assert plan.recompute == 3840 * 10  # one layer recomputed in backward
    # the recompute (38400) and the bf16 logits (20000) come after the loss's 140000 is freed
    assert plan.training == 166674 + 32768 + 32768 + 65536 + 16384 + 5120 + 140000


def test_k_candidates_by_hand():
    plan = vp.estimate(ARCH, replace(SETTINGS, k=2))
    assert plan.lora_weights == 4 * 8192 * 3  # 2 stacked candidates + the PEFT slot's own adapter
    assert plan.lora_grads == 4 * 8192 * 2
    assert plan.optimizer == 8 * 8192 * 2
    assert plan.activations == (2 * 3840 + 256) * 20  # T = 10 · 2
    assert plan.sampling == 2 * 2 * 32 * 15 * 2 * 2 + 2 * 10 * 2 * 1384  # k sequences


def test_paged_8bit_adamw_holds_for_one_candidate():
    assert vp.estimate(ARCH, replace(SETTINGS, optimizer="paged-adamw-8bit")).optimizer == 2 * 8192  # 8-bit moments
    # k candidates side by side keep fp32 moments (the batched AdamW)
    assert vp.estimate(ARCH, replace(SETTINGS, k=2, optimizer="paged-adamw-8bit")).optimizer == 8 * 8192 * 2


def test_bf16_autocast_shares_lora_inputs_for_one_candidate():
    s = replace(SETTINGS, precision="bf16")
    # the module inputs themselves: x (q/k/v), attention out (o), y (gate/up), p (down); A outputs in bf16
    lora = 2 * (64 + 64 + 64 + 128) + 7 * 2 * 4
    assert vp.layer_activation_bytes(ARCH, s) == 512 + 400 + 768 + lora
    # StackedLora's hooks (k > 1) cast every target's input: one copy each
    stacked = 2 * (64 * 6 + 128) + 7 * 2 * 4
    assert vp.layer_activation_bytes(ARCH, replace(s, k=2)) == 512 + 400 + 768 + stacked
    assert vp.estimate(ARCH, s).activations == (2 * (1680 + lora) + 256) * 10 + 2 * 8192  # + bf16 LoRA copies


def test_largest_k_and_checkpointing_advice():
    s = replace(SETTINGS, seq_len=1000)
    totals = [vp.estimate(ARCH, replace(s, k=k)).total for k in range(1, 6)]
    assert totals == sorted(totals)
    budget = (totals[2] + totals[3]) // 2
    assert vp.largest_k(budget, ARCH, s) == 3
    assert vp.largest_k(totals[0] - 1, ARCH, s) == 0
    plan = vp.estimate(ARCH, replace(s, k=3))
    assert not vp.needs_checkpointing(plan, budget)
    assert vp.needs_checkpointing(plan, totals[2] - 1)
    assert vp.needs_checkpointing(replace(plan, settings=replace(plan.settings, checkpointing=True)), totals[2] - 1)


def test_presets_count_their_published_sizes():
    from seal_desk.model.presets import all_presets

    published = {  # parameters, from each model card / config
        "qwen2.5-7b": 7.62e9,
        "qwen2.5-1.5b-instruct": 1.54e9,
        "qwen2.5-0.5b-instruct": 0.494e9,
        "llama-3.2-1b-instruct": 1.24e9,
        "smollm2-135m": 0.1345e9,
    }
    presets = all_presets()
    for name, size in published.items():
        arch = vp.architecture_of(presets[name])
        assert arch is not None and arch.params == pytest.approx(size, rel=0.01), name
    assert vp.Architecture.from_config(presets["qwen2.5-7b"].architecture).qkv_bias


def test_plan_line_is_one_line():
    from seal_desk.model.presets import get_preset

    preset = get_preset("qwen2.5-7b")
    line = vp.plan_line(preset, vp.PlanSettings(), 16 * vp.GiB)
    assert line.startswith("VRAM plan for qwen2.5-7b (nf4, r=32, seq 1024): k=1 ≈ ") and "\n" not in line
    assert "with gradient checkpointing" in line
    assert vp.plan_line(replace(preset, architecture={}), vp.PlanSettings()) == ""


def test_settings_follow_the_configs():
    from seal_desk.config import InnerLoopConfig, LoraSettings, RecallConfig, SelfEditConfig

    inner = InnerLoopConfig(lora=LoraSettings(r=8, target_modules=("q_proj",)), max_seq_len=512, precision="bf16")
    inner = replace(inner, gradient_checkpointing="on", optimizer="paged-adamw-8bit")
    s = vp.settings_for(inner, SelfEditConfig(max_new_tokens=100), "bf16", RecallConfig(batch_size=4), k=3)
    assert s.checkpointing and s.optimizer == "paged-adamw-8bit"
    assert not vp.settings_for(replace(inner, gradient_checkpointing="auto")).checkpointing  # the engine decides
    assert (s.lora_r, s.target_modules, s.seq_len, s.precision, s.gen_new, s.recall_batch, s.k) == (
        8,
        ("q_proj",),
        512,
        "bf16",
        100,
        4,
        3,
    )


def test_saved_activations_match_a_measured_count():
    """Saved-tensor hooks on a real (small, random) Qwen2 + peft LoRA: the per-layer formula holds to 5%."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {
        "model_type": "qwen2",
        "hidden_size": 128,
        "intermediate_size": 672,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 500,
        "tie_word_embeddings": True,
        "use_sliding_window": False,
    }
    arch, tokens = vp.Architecture.from_config(fields), 64
    for dtype, quant in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
        config = AutoConfig.for_model(**fields)
        config._attn_implementation = "sdpa"
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        model.requires_grad_(False)
        peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=list(vp.DEFAULT_TARGETS)))
        params = {p.untyped_storage().data_ptr() for p in peft.parameters()}
        saved: dict[int, int] = {}

        def pack(t, saved=saved, params=params):
            storage = t.untyped_storage()
            if storage.data_ptr() not in params:
                saved[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            peft.base_model.model.model(input_ids=torch.arange(tokens)[None] % 500)  # decoder + final norm
        settings = vp.PlanSettings(quantization=quant, lora_r=8, precision="fp32")
        planned = vp.estimate(arch, replace(settings, seq_len=tokens)).activations
        assert sum(saved.values()) == pytest.approx(planned, rel=0.05), quant
