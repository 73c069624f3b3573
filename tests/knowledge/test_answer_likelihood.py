"""Answer likelihood (the outer loop's cheap reward): exact against a hand computation, stacked = one by one."""

from __future__ import annotations

import torch

from seal_desk.knowledge.answer_likelihood import answer_logprobs, mean_logprob
from seal_desk.knowledge.recall import RecallQuestion, question_ids

QUESTIONS = [
    RecallQuestion("Velmora", "Who started the firm?", "Mira Kostadinova"),
    RecallQuestion("Velmora", "In which year did it open its doors to workers?", "1987"),
    RecallQuestion("Velmora", "What?", "glass bells of the northern coast"),
]


def _by_hand(model, tokenizer, style, q):
    prompt = question_ids(tokenizer, style, q.title, q.question)
    answer = tokenizer(q.answer, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([list(prompt) + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return sum(float(logp[len(prompt) + j - 1, t]) for j, t in enumerate(answer)) / len(answer)


def test_log_probabilities_match_an_unpadded_forward_one_question_at_a_time(tiny):
    got = answer_logprobs(tiny.model, tiny.tokenizer, tiny.prompt_style, QUESTIONS, batch_size=2)
    assert len(got) == 1 and len(got[0]) == 3
    for value, q in zip(got[0], QUESTIONS):
        assert abs(value - _by_hand(tiny.model, tiny.tokenizer, tiny.prompt_style, q)) < 1e-4
    assert all(v < 0 for v in got[0]) and mean_logprob(got[0]) == sum(got[0]) / 3


def test_stacked_candidates_score_as_each_would_alone(tiny_engine, passage):
    from seal_desk.engine import asked_for

    engine = tiny_engine
    sets = [[passage.text], [passage.text, "Mira Kostadinova founded it."], ["unrelated words here"]]
    engine.train_candidates(sets, seeds=[1, 2, 3])
    questions = asked_for([passage])
    stacked = engine.answer_scores(questions)
    assert len(stacked) == 3 and len(set(stacked)) == 3, "different adapters, different likelihoods"
    for i in range(3):
        with engine.candidates.applied(route=[i]) as model:
            alone = answer_logprobs(model, engine.tokenizer, engine.loaded.prompt_style, questions)[0]
        assert abs(mean_logprob(alone) - stacked[i]) < 1e-4
    untouched = engine.answer_scores(questions, candidates=False)[0]
    assert untouched not in stacked
