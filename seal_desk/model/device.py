"""Device and precision choice: CUDA with 4-bit QLoRA when there is a GPU, else CPU fp32."""

from __future__ import annotations

from dataclasses import dataclass

from seal_desk.errors import ModelError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" | "cuda"
    quantization: str  # "nf4" | "fp32" | "bf16" | "fp16"

    @property
    def label(self) -> str:
        return f"{self.device} · {'4-bit NF4 QLoRA' if self.quantization == 'nf4' else self.quantization}"


CPU_BF16_PARAMS = (20_000_000, 2_000_000_000)  # bf16 pays between: tiny models are not compute- or
# bandwidth-bound, big ones cannot afford a bf16 copy


def cpu_bf16_pays(n_params: int) -> bool:
    """Whether bf16 matmuls pay on this CPU for a model of `n_params`: AVX512-BF16 and CPU_BF16_PARAMS."""
    import torch

    low, high = CPU_BF16_PARAMS
    return low <= n_params <= high and bool(torch.cpu._is_avx512_bf16_supported())


_PACKED_BF16: list[bool] = []


def cpu_packed_bf16() -> bool:
    """Whether oneDNN's packed bf16 linear runs on this CPU at all (it needs AVX512 BW/VL/DQ or AVX-NE-CONVERT;
    probed once: on other CPUs, e.g. some AMD EPYC, torch raises)."""
    if not _PACKED_BF16:
        import torch

        try:
            w = torch.ops.mkldnn._reorder_linear_weight(torch.zeros(16, 16, dtype=torch.bfloat16), 1)
            torch.ops.mkldnn._linear_pointwise(torch.zeros(1, 16, dtype=torch.bfloat16), w, None, "none", [], "")
            _PACKED_BF16.append(True)
        except (RuntimeError, AttributeError):
            _PACKED_BF16.append(False)
    return _PACKED_BF16[0]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


DEFAULT_QUANT = {"cuda": "nf4", "cpu": "fp32"}  # a model without a preset's [quantization]


def default_quant(requested: str = "auto", quant_by_device: dict[str, str] | None = None) -> str:
    """The weight precision `choose` picks on `requested` when no quant is asked for (nothing checked)."""
    device = requested if requested not in ("", "auto") else ("cuda" if cuda_available() else "cpu")
    return (quant_by_device or DEFAULT_QUANT).get(device, "fp32")


def choose(requested: str = "auto", quant_by_device: dict[str, str] | None = None, quant: str = "") -> Placement:
    """Pick the device and the weight precision for it."""
    import torch

    if requested not in DEVICES:
        raise ModelError(f"unknown device '{requested}': choose one of {', '.join(DEVICES)}")
    if requested == "auto":
        requested = "cuda" if cuda_available() else "cpu"
    if requested == "cuda" and not cuda_available():
        raise ModelError(f"--device cuda: torch {torch.__version__} sees no CUDA GPU; use --device cpu")
    quantization = quant or default_quant(requested, quant_by_device)
    if quantization == "nf4":  # CUDA, or the CPU (bitsandbytes' CPU kernels: slow, see CPU_NF4_NOTE)
        _check_bitsandbytes()
    return Placement(requested, quantization)


CPU_NF4_NOTE = "4-bit NF4 on the CPU runs through bitsandbytes' CPU kernels: it works, slowly (fp32 is faster here)"


def bnb_device_map(placement: Placement) -> dict:
    """Where bitsandbytes puts a 4-bit model: the first GPU, or the CPU."""
    return {"": 0} if placement.device == "cuda" else {"": "cpu"}


def _check_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the machine
        raise ModelError(f"bitsandbytes cannot run 4-bit here ({exc}); try --quant bf16 or fp16") from None


def free_memory_bytes(device: str) -> int:
    """Memory a model could still take on `device`."""
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "nf4": 0.56}


def check_fits(n_params: int, placement: Placement, name: str) -> None:
    """Refuse early, with one line, when the weights plus training room cannot fit."""
    need = n_params * BYTES_PER_PARAM.get(placement.quantization, 4.0) * 1.25 + 256 * 2**20
    free = free_memory_bytes(placement.device)
    if need > free:
        raise ModelError(
            f"{name} does not fit: needs about {need / 2**30:.1f} GiB on {placement.device}, "
            f"{free / 2**30:.1f} GiB free; pick a smaller preset (seal-desk models)"
        )
