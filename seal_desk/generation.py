"""A lean batched decode loop with streaming: greedy or temperature/top-p sampling.

Prompts are left-padded; each row stops at its own end-of-sequence token. `on_text(row, text)`
receives newly decoded text per row as it is produced (used to stream self-edits).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from seal_desk.events import CancelToken

TextSink = Callable[[int, str], None]


def _sample(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        cumulative = sorted_probs.cumsum(dim=-1)
        sorted_probs[(cumulative - sorted_probs) > top_p] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: Optional[int] = None,
    on_text: Optional[TextSink] = None,
    cancel: Optional[CancelToken] = None,
) -> list[list[int]]:
    """Generate continuations for token-id prompts; returns the new ids of each row (stop token excluded)."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    ids, mask = ids.to(device), mask.to(device)
    generator = None
    if temperature > 0:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed if seed is not None else torch.seed())
    stops = torch.tensor(sorted(set(stop_ids)), device=device)
    out: list[list[int]] = [[] for _ in prompts]
    shown = [""] * len(prompts)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    cache = DynamicCache()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    step_ids = ids
    for _ in range(max_new_tokens):
        if cancel is not None:
            cancel.check()
        logits = model(
            input_ids=step_ids, attention_mask=mask, position_ids=positions,
            past_key_values=cache, use_cache=True,
        ).logits[:, -1, :]
        nxt = _sample(logits, temperature, top_p, generator)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        finished_now = torch.isin(nxt, stops) & ~done
        for row, token in enumerate(nxt.tolist()):
            if done[row] or finished_now[row]:
                continue
            out[row].append(token)
            if on_text is not None:
                text = tokenizer.decode(out[row], skip_special_tokens=True)
                if len(text) > len(shown[row]) and not text.endswith("\ufffd"):
                    on_text(row, text[len(shown[row]):])
                    shown[row] = text
        done |= finished_now
        if bool(done.all()):
            break
        step_ids = nxt.unsqueeze(-1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
        positions = positions[:, -1:] + 1
    return out
