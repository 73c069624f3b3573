"""An optional local judge: the model itself (adapter off) says whether a reply states the gold answer.

Off by default: SEAL used a GPT-4.1 yes/no judge; a small local model is a weak judge, so the
headline metric stays the deterministic 'states the answer' check and the verdict is kept beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from seal_desk.knowledge.self_edit import user_prompt_ids
from seal_desk.model.generation import generate

PROMPT = (
    "You are grading a quiz answer.\nQuestion: {question}\nCorrect answer: {gold}\nStudent answer: {answer}\n"
    "Does the student answer state the correct answer? Reply with yes or no."
)


def verdicts(
    model,
    tokenizer,
    prompt_style: str,
    stop_ids: Sequence[int],
    items: Sequence[tuple[str, str, str]],
    batch_size: int = 16,
) -> list[bool]:
    """Yes/no verdicts for (question, gold, answer) triples, greedy."""
    out: list[bool] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        prompts = []
        for question, gold, answer in chunk:
            text = PROMPT.format(question=question, gold=gold, answer=answer or "(no answer)")
            prompts.append(user_prompt_ids(tokenizer, prompt_style, text, text + "\nAnswer:"))
        replies = generate(model, tokenizer, prompts, max_new_tokens=3, stop_ids=stop_ids)
        out += [tokenizer.decode(r, skip_special_tokens=True).strip().lower().startswith("yes") for r in replies]
    return out
