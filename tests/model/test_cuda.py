"""On a CUDA GPU only (skipped elsewhere; scripts/gpu_check.sh runs them): the QLoRA path on the GPU, and the
VRAM planner against the measured peak of a real inner loop."""

from __future__ import annotations

import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_tiny_model_learns_in_4bit_on_the_gpu(workspace, fast_config, passage):
    pytest.importorskip("bitsandbytes")
    from seal_desk.engine import Engine
    from seal_desk.knowledge.documents import Document
    from seal_desk.model.loader import load

    loaded = load("random:qwen2.5-0.5b-instruct", "cuda", "nf4")
    engine = Engine(loaded, workspace, fast_config)
    result = engine.learn(Document("inline", "Zorblat", [passage]))
    assert result.train.steps > 0 and result.adapter_id is not None
    assert next(engine.host.peft.parameters()).is_cuda


@pytest.mark.parametrize("k", [1, 4])
def test_planner_is_within_a_third_of_the_measured_training_peak(fast_config, k):
    pytest.importorskip("bitsandbytes")
    from dataclasses import replace

    from seal_desk.engine import Engine
    from seal_desk.model import vram_plan
    from seal_desk.model.loader import load

    loaded = load("random:qwen2.5-0.5b-instruct", "cuda", "nf4")
    config = replace(fast_config, inner=replace(fast_config.inner, max_seq_len=512, epochs=1))
    engine = Engine(loaded, None, config)
    words = " ".join(f"word{i}" for i in range(2000))
    sequences = [words]  # one sequence cut at max_seq_len: the longest the planner assumes
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    if k == 1:
        engine.train_on(sequences)
    else:
        engine.train_candidates([sequences] * k, seeds=list(range(k)))
    torch.cuda.synchronize()
    measured = torch.cuda.max_memory_allocated()
    arch = vram_plan.architecture_of(loaded.source.preset)
    settings = vram_plan.settings_for(config.inner, config.self_edit, "nf4", config.recall, k=k, seq_len=512)
    plan = vram_plan.estimate(arch, settings)
    training = plan.training  # without the CUDA context, which torch's counter does not see
    print(f"k={k}: measured {measured / 2**30:.2f} GiB, planned {training / 2**30:.2f} GiB (+ overhead)")
    assert 0.67 * measured <= training <= 1.5 * measured
