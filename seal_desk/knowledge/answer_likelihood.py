"""Answer likelihood: how sure the model is of each gold answer, read off teacher-forced forwards.

The outer loop's cheap reward (`OuterLoopConfig.reward = "answer-logprob"`): after the inner loop,
the mean log-probability per token of each question's gold answer as the reply to SEAL's closed-book
prompt. It needs no generation, it is continuous (far less seed noise than right/wrong recall on six
questions), and it rises only when the answer became likelier under the *reworded* question.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seal_desk.knowledge.recall import RecallQuestion, question_ids


def _rows(tokenizer, prompt_style: str, questions: Sequence[RecallQuestion]) -> list[tuple[list[int], int]]:
    """(prompt + answer ids, answer length) per question."""
    rows = []
    for q in questions:
        prompt = question_ids(tokenizer, prompt_style, q.title, q.question)
        answer = tokenizer(q.answer.strip(), add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
        rows.append((list(prompt) + list(answer), len(answer)))
    return rows


@torch.no_grad()
def answer_logprobs(
    model, tokenizer, prompt_style: str, questions: Sequence[RecallQuestion], groups: int = 1, batch_size: int = 4
) -> list[list[float]]:
    """Per group (stacked adapters, group-major rows as `StackedLora` routes them), per question: the
    gold answer's mean log-probability per token. `groups=1` scores a plain model."""
    rows = _rows(tokenizer, prompt_style, questions)
    out: list[list[float]] = [[0.0] * len(rows) for _ in range(groups)]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        keep = max(n for _, n in chunk) + 1  # only the answers' positions get logits (a 152k vocabulary is big)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (seq, _) in enumerate(chunk):  # left padding: every row's answer ends at the last position
            ids[i, width - len(seq) :] = torch.tensor(seq)
            mask[i, width - len(seq) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as an unpadded forward numbers them
        ids, mask, positions = (t.repeat(groups, 1).to(device) for t in (ids, mask, positions))
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
        for g in range(groups):
            for i, (_, n) in enumerate(chunk):
                row = g * len(chunk) + i
                logp = torch.log_softmax(logits[row, keep - n - 1 : keep - 1].float(), dim=-1)
                target = ids[row, width - n :].unsqueeze(-1)
                out[g][start + i] = float(logp.gather(-1, target).mean())
    return out


def mean_logprob(per_question: Sequence[float]) -> float:
    """The reward of one adapter: the mean over its questions."""
    return sum(per_question) / len(per_question) if per_question else 0.0


__all__ = ["answer_logprobs", "mean_logprob"]
