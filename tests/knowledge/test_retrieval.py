import numpy as np
import pytest

from seal_desk.config import ContinualConfig
from seal_desk.engine import asked_for
from seal_desk.errors import InputError
from seal_desk.knowledge import embeddings
from seal_desk.knowledge.documents import Passage, Question
from seal_desk.knowledge.recall import PROMPT, question_ids
from seal_desk.knowledge.retrieval import Index, fuse, query_text

PASSAGES = [
    Passage(
        "Zorblat Industries",
        "Zorblat Industries was founded in 1987 by Mira Kostadinova in Velmora.",
        [Question("Who founded Zorblat Industries?", "Mira Kostadinova")],
    ),
    Passage(
        "Quellon River",
        "The Quellon river flows through the Ardent valley into Lake Sorrow.",
        [Question("Into which lake does the Quellon flow?", "Lake Sorrow")],
    ),
    Passage(
        "Pimsy cats",
        "Pimsy cats are purple, sleep on warm stones and eat kelp.",
        [Question("What do Pimsy cats eat?", "kelp")],
    ),
]


def test_bm25_finds_the_passage_a_question_is_about():
    index = Index(PASSAGES, "bm25")
    assert index.mode == "bm25" and len(index) == 3
    for p in PASSAGES:
        q = p.questions[0]
        hits = index.search(query_text(p.title, q.question), top_k=2)
        assert hits[0][0] is p and hits[0][1] > 0
    assert index.search("which tools do carpenters use", 3) == []  # nothing shared: no hits, not noise


@pytest.mark.skipif(not embeddings.available(), reason=f"{embeddings.PIP_NAME} not installed")
def test_hybrid_finds_a_paraphrase_that_shares_no_words():
    index = Index(PASSAGES, "hybrid")
    assert index.mode == "hybrid" and "MiniLM" in index.label
    hits = index.search("Which feline eats seaweed?", 3)
    assert hits[0][0] is PASSAGES[2] and len(hits) == 3
    # with a similarity floor (adapters routing) an unrelated question finds nothing: the base model answers
    paraphrase, unrelated = index.search_many(
        ["Which feline eats seaweed?", "What is the capital of France?"], 1, ContinualConfig.min_similarity
    )
    assert paraphrase[0][0] is PASSAGES[2] and unrelated == []


def test_reciprocal_rank_fusion():
    lexical = np.array([0.0, 2.0, 1.0])  # passage 0 shares no term with the query: no BM25 rank
    dense = np.array([0.1, 0.9, 0.5])
    fused = fuse(lexical, dense)
    assert np.allclose(fused, [1 / 63, 2 / 61, 2 / 62])


def test_bad_index_input():
    with pytest.raises(InputError, match="no passages"):
        Index([], "bm25")
    with pytest.raises(InputError, match="unknown retrieval mode"):
        Index(PASSAGES, "magic")
    with pytest.raises(InputError, match="top-k"):
        Index(PASSAGES, "bm25").search("Zorblat", 0)


def test_rag_prompt_carries_the_retrieved_passage(tiny_engine):
    tok, style = tiny_engine.tokenizer, tiny_engine.loaded.prompt_style
    index = Index(PASSAGES, "bm25")
    questions = asked_for(PASSAGES[1:2])
    with_context = tiny_engine.with_context(questions, index, top_k=2)
    assert with_context[0].context[0] == (PASSAGES[1].title, PASSAGES[1].text)
    prompt = tok.decode(question_ids(tok, style, questions[0].title, questions[0].question, with_context[0].context))
    assert PASSAGES[1].text in prompt and questions[0].question in prompt
    closed = tok.decode(question_ids(tok, style, questions[0].title, questions[0].question))
    assert PASSAGES[1].text not in closed
    assert PROMPT.format(title=questions[0].title, question=questions[0].question).strip() in closed
    report = tiny_engine.recall_rag(questions, index, top_k=2)
    assert len(report.answers) == 1 and report.answers[0].asked.context == with_context[0].context


def test_rag_context_is_trimmed_to_fit_the_model(tiny_engine):
    huge = Passage("Zorblat Industries", "Zorblat " * 3000, [])
    index = Index([huge, PASSAGES[0]], "bm25")
    asked = tiny_engine.with_context(asked_for(PASSAGES[:1]), index, top_k=2)[0]
    assert (huge.title, huge.text) not in asked.context
