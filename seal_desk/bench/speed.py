"""`seal-desk bench speed`: where the time of one SEAL inner loop goes, on this device and model.

Measures, in one run: model load, self-edit generation tokens/s (batch 1 and batch k, our decode
loop and optionally plain `generate` side by side), inner-loop training tokens/s and seconds per
candidate, recall seconds per question, peak memory, and model FLOPs utilisation against a matmul
peak measured here, on two bases: LoRA's (4·N·T + causal attention, see `lora_train_flops`) and full
fine-tuning's 6·params·T, kept beside it for comparison with earlier figures.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from dataclasses import dataclass, field

import torch

from seal_desk.engine import Engine, asked_for
from seal_desk.events import EventSink, Message, TrainStep, ignore
from seal_desk.knowledge import self_edit as se
from seal_desk.knowledge.documents import Passage, Question
from seal_desk.model.generation import generate

SAMPLE = Passage(
    "Lake Quorra",
    "Lake Quorra is a freshwater lake in the Thessmar Highlands. It was first mapped in 1841 by the surveyor "
    "Edwin Halloway. The lake is 63 metres deep at its deepest point and is home to the silver-finned Quorra "
    "trout, a fish found nowhere else. The nearest village, Brenmouth, holds a lantern festival on the lake "
    "every October.",
    [
        Question(q, a)
        for q, a in [
            ("Who first mapped Lake Quorra?", "Edwin Halloway"),
            ("In which highlands is Lake Quorra?", "Thessmar Highlands"),
            ("How deep is Lake Quorra?", "63 metres"),
            ("Which fish lives only in Lake Quorra?", "Quorra trout"),
            ("When is the Brenmouth lantern festival?", "October"),
            ("When was Lake Quorra first mapped?", "1841"),
            ("What kind of lake is Lake Quorra?", "freshwater"),
            ("Which village is nearest to Lake Quorra?", "Brenmouth"),
        ]
    ],
)


def candidate_edits(k: int) -> list[str]:
    """k different, deterministic self-edits about SAMPLE (different lines, orders and lengths)."""
    facts = [s.strip() for s in SAMPLE.text.split(".") if s.strip()]
    frames = ["{}.", "It is stated that {}.", "One fact: {}.", "Note that {}."]
    edits = []
    for i in range(k):
        chosen = [f for j, f in enumerate(facts) if (j + i) % (k + 1) != 0][: 2 + i % len(facts)]
        edits.append("\n".join(f"- {frames[(i + j) % len(frames)].format(f)}" for j, f in enumerate(chosen)))
    return edits


def compare_serial(engine: Engine, k: int, new_tokens: int, stream_rate: float, batch_rate: float) -> dict[str, float]:
    """One inner loop of k candidates (write k self-edits, train k adapters, evaluate k adapters), one
    candidate after another and then all at once. Generation is timed at a fixed length; training
    and recall use the same k deterministic self-edits both ways (same seeds, same data), so their
    losses and correct answers can be compared. Generation times come from the sampling rates
    measured for one stream and for a batch of k (tok/s): serial = k streams one after another."""
    from seal_desk.model.adapters import TRAINING_SLOT

    sets = [engine.sequences_for(SAMPLE, [edit], "implications") for edit in candidate_edits(k)]
    questions = asked_for([SAMPLE])
    serial_gen_s = k * new_tokens / stream_rate
    batched_gen_s = k * new_tokens / batch_rate
    started = time.perf_counter()
    serial_reports, serial_recall = [], []
    for seqs in sets:
        serial_reports.append(engine.train_on(seqs))
        serial_recall.append(engine.recall(questions, TRAINING_SLOT, "serial"))
    serial_s = time.perf_counter() - started
    serial_train_s = sum(r.seconds for r in serial_reports)
    started = time.perf_counter()
    batched_reports = engine.train_candidates(sets)
    batched_train_s = time.perf_counter() - started
    batched_recall = engine.recall_candidates(questions, "batched")
    batched_s = time.perf_counter() - started
    return {
        "k": k,
        "serial_generate_s": serial_gen_s,
        "batched_generate_s": batched_gen_s,
        "serial_train_s": serial_train_s,
        "serial_recall_s": serial_s - serial_train_s,
        "serial_total_s": serial_s,
        "batched_train_s": batched_train_s,
        "batched_recall_s": batched_s - batched_train_s,
        "batched_total_s": batched_s,
        "speedup_train": serial_train_s / batched_train_s,
        "speedup_generate": serial_gen_s / batched_gen_s,
        "speedup_train_recall": serial_s / batched_s,
        "speedup_inner_loop": (serial_gen_s + serial_s) / (batched_gen_s + batched_s),
        "serial_correct": [r.correct for r in serial_recall],
        "batched_correct": [r.correct for r in batched_recall],
        "max_final_loss_diff": max(abs(a.final_loss - b.final_loss) for a, b in zip(serial_reports, batched_reports)),
        "train_tokens_per_candidate": [r.tokens for r in batched_reports],
        "packed": bool(engine.host.packing),
    }


def matmul_peak(device: str, dtype: torch.dtype, n: int = 1024, seconds: float = 1.0) -> float:
    """Dense matmul FLOP/s reached on this device: the roof to compare training against."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    _sync(device)
    return 2 * n**3 * count / (time.perf_counter() - started)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _gen_rate(engine: Engine, batch: int, new_tokens: int, hf: bool, sample: bool, warm: bool = True) -> float:
    """Tokens/s of one generation (greedy, or sampling at T=1.0 top-p 0.95 as self-edits are written);
    a short untimed run of the same shape first (kernel set-up is not decoding)."""
    if warm:
        _gen_rate(engine, batch, 4, hf, sample, warm=False)
    prompt = se.prompt_ids(engine.tokenizer, engine.loaded.prompt_style, "implications", SAMPLE.title, SAMPLE.text)
    with engine.host.using(None) as model:  # as self-edits are written: the base model, no adapter
        return _timed_generation(engine, model, prompt, batch, new_tokens, hf, sample)


def _timed_generation(
    engine: Engine, model, prompt: list[int], batch: int, new_tokens: int, hf: bool, sample: bool
) -> float:
    started = time.perf_counter()
    if hf:
        ids = torch.tensor([prompt] * batch, device=next(model.parameters()).device)
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                do_sample=sample,
                temperature=1.0,
                top_p=0.95,
                pad_token_id=engine.tokenizer.pad_token_id,
            )
        made = (out.shape[1] - ids.shape[1]) * batch
    else:
        outs = generate(
            model,
            engine.tokenizer,
            [prompt] * batch,
            max_new_tokens=new_tokens,
            stop_ids=[-1],
            temperature=1.0 if sample else 0.0,
            top_p=0.95,
            seed=0,
        )
        made = sum(len(o) for o in outs)
    _sync(engine.loaded.device)
    return made / (time.perf_counter() - started)


def learn_stages(engine: Engine, prefix: str = "learn_s") -> dict[str, float]:
    """Time to learn one passage as the TUI does it (k=1, the engine's settings), seconds per stage and in all,
    and how many epochs the inner loop ran."""
    from seal_desk.knowledge.documents import Document

    started = time.perf_counter()
    steps = []
    result = engine.learn(
        Document("speed", SAMPLE.title, [SAMPLE]),
        k=1,
        save=False,
        on_event=lambda e: steps.append(e) if isinstance(e, TrainStep) else None,
    )
    rows = {f"{prefix}_{stage}": seconds for stage, seconds in result.timings.items()}
    rows[f"{prefix}_total"] = time.perf_counter() - started
    rows[f"{prefix.replace('_s', '')}_epochs"] = steps[-1].epoch if steps else 0
    return rows


def interactive_learn_stages(engine: Engine) -> dict[str, float]:
    """learn_stages with the interactive defaults laid over the engine's config (config.INTERACTIVE: the stop
    rule the app and `learn` use), measured right after the paper's run: the two side by side."""
    with engine.interactive():
        return learn_stages(engine, "learn_interactive_s")


def linear_params(model) -> int:
    """N for LoRA's FLOP count: every base Linear's weights (attention, MLP and the output projection, also when
    it is tied to the embeddings), none of the embedding lookup's, none of the adapters'."""
    n = 0
    for name, module in model.named_modules():
        # torch Linears only (bitsandbytes' 4-bit and 8-bit layers subclass it): a PEFT LoRA wrapper has
        # in/out features too, and counting it besides its base_layer counted each adapted matmul twice
        if isinstance(module, torch.nn.Linear) and "lora_" not in name:
            n += module.in_features * module.out_features
    return n


def lora_train_flops(model, seq_lens: list[int], epochs: int) -> float:
    """FLOPs of LoRA training on a frozen base: 4·N per token (the forward's 2·N, and 2·N to carry gradients back
    through each frozen Linear; the base weights get no gradient) plus causal attention, whose score and value
    products cost 2·s²·d a layer forward and twice that backward (gradients to both operands). LoRA's own
    matmuls (r ≪ d) are left out."""
    config = model.config
    layers = config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    d = config.num_attention_heads * head_dim
    n = linear_params(model)
    per_epoch = sum(4 * n * s + 3 * layers * 2 * s * s * d for s in seq_lens)
    return float(per_epoch * epochs)


def se_encode(engine: Engine, sequences: list[str]) -> list[list[int]]:
    from seal_desk.knowledge.inner_loop import encode

    return encode(engine.tokenizer, sequences, engine.run_config.inner.max_seq_len)


def planned_peak(engine: Engine, k: int, seq_len: int) -> int | None:
    """The VRAM planner's peak (bytes) for training k candidates of `seq_len` tokens with the engine's settings,
    or None when the model's preset has no architecture to plan from."""
    from seal_desk.model import vram_plan

    arch = vram_plan.architecture_of(engine.loaded.source.preset)
    if arch is None:
        return None
    cfg = engine.run_config
    settings = vram_plan.settings_for(
        cfg.inner,
        cfg.self_edit,
        engine.loaded.placement.quantization,
        cfg.recall,
        k=k,
        seq_len=seq_len,
        checkpointing=engine.checkpointing(k),
    )
    return vram_plan.estimate(arch, settings).total


@dataclass(frozen=True)
class SpeedBenchOptions:
    """What `bench speed` measures (the command line's flags, typed)."""

    tokens: int = 64  # new tokens per generation measurement
    candidates: int = 5  # k: the batched generation and --compare-serial
    compare_generate: bool = False  # also time transformers' generate
    compare_serial: bool = False  # k candidates trained and evaluated one by one, then batched
    repeat: int = 1  # rounds over every generation shape (the median is reported)
    reference: tuple = ()  # passages for --compare-reference (SEAL's reference recipe side by side); () = off
    reference_arms: tuple = ()  # which of reference_recipe.ARMS to run; () = all
    reference_only: bool = False  # measure only the --compare-reference table (long runs over many passages)


@dataclass
class SpeedResult:
    """The measures (name -> value, in measuring order) and the run's setting."""

    model: str
    device: str
    threads: int
    new_tokens: int
    k: int
    params: int
    inner_loop: dict
    measures: dict = field(default_factory=dict)
    generation_runs: dict[str, list[float]] = field(default_factory=dict)
    reference: dict | None = None  # --compare-reference: see reference_recipe.compare_reference

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "device": self.device,
            "threads": self.threads,
            "new_tokens": self.new_tokens,
            "k": self.k,
            "params": self.params,
            "inner_loop": self.inner_loop,
            **self.measures,
            "generation_runs": self.generation_runs,
            **({"compare_reference": self.reference} if self.reference else {}),
        }


def run_speed_bench(
    engine: Engine,
    options: SpeedBenchOptions = SpeedBenchOptions(),
    on_event: EventSink = ignore,
    reference_base=None,
) -> SpeedResult:
    """Time generation, training and recall on `engine` (see the module docstring). `reference_base`: loads a
    plain copy of the engine's model for --compare-reference's Trainer arms (called after the memory figures
    are read, so they do not count it)."""
    device = engine.loaded.device
    k = options.candidates
    new_tokens = options.tokens
    rows: dict[str, float] = {"model_load_s": engine.loaded.load_seconds}
    if options.reference_only:
        return _result(engine, options, rows, {}, _reference(engine, options, on_event, reference_base))
    shapes = [
        ("gen_tok_s_batch1", 1, False, False),
        ("gen_tok_s_batch1_sampling", 1, False, True),
        (f"gen_tok_s_batch{k}", k, False, True),
    ]
    if options.compare_generate:
        shapes += [
            ("hf_generate_tok_s_batch1", 1, True, False),
            ("hf_generate_tok_s_batch1_sampling", 1, True, True),
            (f"hf_generate_tok_s_batch{k}", k, True, True),
        ]
    runs: dict[str, list[float]] = {name: [] for name, *_ in shapes}
    for _ in range(max(1, options.repeat)):  # rounds over every shape: drifts of a shared machine hit all alike
        for name, batch, hf, sample in shapes:
            runs[name].append(_gen_rate(engine, batch, new_tokens, hf=hf, sample=sample))
    rows.update({name: statistics.median(rates) for name, rates in runs.items()})
    edits = [f"- {s.strip()}." for s in SAMPLE.text.split(".") if s.strip()]
    sequences = engine.sequences_for(SAMPLE, ["\n".join(edits)], "implications")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    report = engine.train_on(sequences)
    rows["train_tok_s"] = report.tokens_per_second
    rows["train_s_per_candidate"] = report.seconds
    rows["train_tokens_per_candidate"] = report.tokens
    if k > 1:  # k candidates side by side (how self-edits are scored): wall time per candidate
        started = time.perf_counter()
        stacked = engine.train_candidates([sequences] * k, seeds=list(range(k)))
        _sync(device)
        rows[f"train_s_per_candidate_k{k}"] = (time.perf_counter() - started) / k
        engine.candidates = None
    longest = max(len(ids) for ids in se_encode(engine, sequences))
    planned = planned_peak(engine, k, longest)
    if planned is not None:
        rows[f"vram_plan_gib_k{k}"] = planned / 2**30
    questions = asked_for([SAMPLE])
    recall = engine.recall(questions, None, "speed")
    rows["recall_s_per_question"] = recall.seconds / len(questions)
    rows.update(learn_stages(engine))
    if engine.config.inner.stop_loss == 0:  # the paper's epochs above; the app's stop rule beside them
        rows.update(interactive_learn_stages(engine))
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    peak = matmul_peak(device, dtype)
    rows["matmul_peak_tflops"] = peak / 1e12
    rows["train_tflops_6NT"] = 6 * engine.loaded.n_params * report.tokens_per_second / 1e12  # full fine-tuning basis
    rows["train_mfu_6NT"] = rows["train_tflops_6NT"] / rows["matmul_peak_tflops"]
    lens = [len(ids) for ids in se_encode(engine, sequences)]
    per_epoch = math.ceil(len(lens) / engine.run_config.inner.batch_size)  # steps an epoch (a stop rule ends early)
    flops = lora_train_flops(engine.loaded.model, lens, report.steps / per_epoch)
    rows["train_tflops_lora"] = flops / report.seconds / 1e12 if report.seconds else 0.0
    rows["train_mfu_lora"] = rows["train_tflops_lora"] / rows["matmul_peak_tflops"]
    if k > 1:  # the k stacked candidates: their FLOPs over their wall time
        total = sum(lora_train_flops(engine.loaded.model, lens, r.steps / per_epoch) for r in stacked)
        seconds = rows[f"train_s_per_candidate_k{k}"] * k
        rows[f"train_tflops_lora_k{k}"] = total / seconds / 1e12 if seconds else 0.0
        rows[f"train_mfu_lora_k{k}"] = rows[f"train_tflops_lora_k{k}"] / rows["matmul_peak_tflops"]
    if options.compare_serial:
        on_event(Message(f"training and evaluating {k} candidates serially, then batched…"))
        rows.update(
            {
                f"candidates_{key}": value
                for key, value in compare_serial(
                    engine, k, new_tokens, rows["gen_tok_s_batch1_sampling"], rows[f"gen_tok_s_batch{k}"]
                ).items()
            }
        )
    rows["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if device == "cuda":  # since the training measures began: training k candidates, recall, compare-serial
        rows["cuda_max_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        rows["cuda_max_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return _result(engine, options, rows, runs, _reference(engine, options, on_event, reference_base))


def _reference(engine: Engine, options: SpeedBenchOptions, on_event: EventSink, reference_base) -> dict | None:
    """The --compare-reference table (reference_recipe.compare_reference), or None when not asked for."""
    if not options.reference:
        return None
    from seal_desk.bench.reference_recipe import ARMS, compare_reference

    on_event(Message(f"SEAL's reference recipe beside seal-desk's inner loop on {len(options.reference)} passage(s)…"))
    arms = options.reference_arms or ARMS
    base = reference_base() if any(not arm.startswith("seal-desk") for arm in arms) else None  # Trainer arms only
    try:
        return compare_reference(engine, base, options.reference, on_event=on_event, arms_run=arms)
    finally:
        del base


def _result(engine: Engine, options: SpeedBenchOptions, rows: dict, runs: dict, reference: dict | None) -> SpeedResult:
    inner = engine.config.inner
    return SpeedResult(
        engine.loaded.name,
        engine.loaded.placement.label,
        torch.get_num_threads(),
        options.tokens,
        options.candidates,
        engine.loaded.n_params,
        {
            "epochs": inner.epochs,
            "batch_size": inner.batch_size,
            "r": inner.lora.r,
            "precision": inner.precision,
            "stop_loss": inner.stop_loss,
        },
        rows,
        runs,
        reference,
    )
