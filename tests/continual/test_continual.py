import pytest
import torch

from seal_desk.config import STRATEGIES, ContinualConfig
from seal_desk.continual.forgetting import run_sequence
from seal_desk.continual.strategies import (
    AdaptersStrategy,
    Learned,
    MergeStrategy,
    ReplayStrategy,
    document_sequences,
    make,
    replay_sample,
)
from seal_desk.engine import asked_for
from seal_desk.errors import InputError
from seal_desk.events import ContinualRecall
from seal_desk.knowledge.documents import Document, Passage, Question

BM25 = ContinualConfig(retrieval="bm25")
FACTS = [
    (
        "Zorblat Industries",
        "Zorblat Industries was founded in 1987 by Mira Kostadinova.",
        "Who founded Zorblat?",
        "Mira",
    ),
    ("Quellon River", "The Quellon river flows through the Ardent valley.", "Where does the Quellon flow?", "Ardent"),
    ("Pimsy cats", "Pimsy cats are purple and eat kelp.", "What do Pimsy cats eat?", "kelp"),
]


@pytest.fixture
def tiny_engine(tiny):
    """The tiny model with the least training and answering that still exercises every path."""
    from seal_desk.config import InnerLoopConfig, LoraSettings, RecallConfig, SealConfig
    from seal_desk.engine import Engine

    return Engine(
        tiny,
        None,
        SealConfig(
            inner=InnerLoopConfig(lora=LoraSettings(r=4, alpha=8), epochs=1, lr=1e-2),
            recall=RecallConfig(max_new_tokens=6),
        ),
    )


@pytest.fixture
def docs():
    return [Document(f"doc-{i}", t, [Passage(t, text, [Question(q, a)])]) for i, (t, text, q, a) in enumerate(FACTS)]


def _sequences(engine, docs):
    return [document_sequences(engine, d.passages, "none") for d in docs]


def _base_logits(engine):
    ids = torch.tensor([engine.tokenizer("Zorblat Industries was founded")["input_ids"]])
    with torch.no_grad(), engine.host.using(None) as model:
        return model(input_ids=ids).logits


def _base_weights(engine):
    """The base model's weights by their plain names (PEFT's wrapping and LoRA parameters left out)."""
    model = engine.host.model
    return {
        n.replace("base_model.model.", "").replace(".base_layer", ""): p.detach().clone()
        for n, p in model.named_parameters()
        if "lora_" not in n
    }


@pytest.mark.parametrize("name", STRATEGIES)
def test_each_strategy_gives_a_lower_triangular_forgetting_matrix(name, tiny_engine, docs):
    events = []
    with make(name, tiny_engine, BM25) as strategy:
        result = run_sequence(
            tiny_engine, strategy, docs, _sequences(tiny_engine, docs), asked_for(docs[0].passages), events.append
        )
    m = result.matrix
    assert len(m) == 3 and all(len(row) == 3 for row in m)
    for t in range(3):
        for j in range(3):
            assert (m[t][j] is None) == (j > t)
            assert m[t][j] is None or 0.0 <= m[t][j] <= 1.0
    assert len(result.probe) == 3 and len(result.train) == 3
    assert [e.update for e in events if isinstance(e, ContinualRecall)] == [0, 1, 2]
    retention = result.to_json()["retention"]
    assert [d["drop"] for d in retention["documents"]] == [m[j][j] - m[2][j] for j in range(3)]
    assert retention["max_drop"] >= retention["mean_drop"]
    if name == "adapters":
        assert result.routing == [1.0, 1.0, 1.0]  # every question went to its own document's adapter


def test_merge_changes_the_weights_then_restores_them(tiny_engine, docs):
    before_logits = _base_logits(tiny_engine)
    before = _base_weights(tiny_engine)
    strategy = MergeStrategy(tiny_engine, BM25)
    strategy.learn(docs[0].path, docs[0].passages, _sequences(tiny_engine, docs[:1])[0])
    assert not torch.equal(_base_logits(tiny_engine), before_logits)  # merged into the weights
    strategy.close()
    assert torch.equal(_base_logits(tiny_engine), before_logits)
    after = _base_weights(tiny_engine)
    assert set(before) <= set(after)
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_merge_resume_rebuilds_the_merged_weights(tiny_engine, docs, tmp_path):
    seqs = _sequences(tiny_engine, docs)
    with MergeStrategy(tiny_engine, BM25) as first:
        for i, d in enumerate(docs[:2]):
            first.learn(d.path, d.passages, seqs[i], tmp_path / f"a{i}")
        merged = _base_logits(tiny_engine)
    history = [Learned(d.path, d.passages, seqs[i], str(tmp_path / f"a{i}")) for i, d in enumerate(docs[:2])]
    with MergeStrategy(tiny_engine, BM25) as again:
        again.resume(history)
        assert torch.allclose(_base_logits(tiny_engine), merged, atol=1e-5)
        assert again.keys == [docs[0].path, docs[1].path]


def test_routing_picks_the_adapter_of_the_document(tiny_engine, docs):
    seqs = _sequences(tiny_engine, docs)
    with AdaptersStrategy(tiny_engine, BM25) as strategy:
        for d, s in zip(docs, seqs):
            strategy.learn(d.path, d.passages, s)
        questions = [q for d in reversed(docs) for q in asked_for(d.passages)]
        from seal_desk.knowledge.recall import RecallQuestion

        questions.append(RecallQuestion("carpentry", "Which tools do carpenters use?", "saws"))
        assert strategy.route(questions) == [docs[2].path, docs[1].path, docs[0].path, None]
        report = strategy.answer(questions)
        direct = tiny_engine.recall(questions[:1], strategy.names[docs[2].path])
        assert report.answers[0].text == direct.answers[0].text
        assert len(tiny_engine.host.loaded) == 3
    assert tiny_engine.host.loaded == {}  # close unloads its adapters


def test_replay_trains_one_adapter_further_with_earlier_sequences(tiny_engine, docs):
    seqs = [["Zorblat one", "Zorblat two", "Zorblat three"], ["Quellon one"], ["Pimsy one"]]
    with ReplayStrategy(tiny_engine, ContinualConfig(replay_budget=2)) as strategy:
        reports = [strategy.learn(d.path, d.passages, s).train for d, s in zip(docs, seqs)]
        assert [r.sequences for r in reports] == [3, 1 + 2, 1 + 2]
        strategy.learn(docs[0].path, docs[0].passages, ["Zorblat again"])  # learned again: replaced in the pool
        assert strategy.pool[docs[0].path] == ["Zorblat again"] and strategy.keys[-1] == docs[0].path


def test_replay_sample_is_even_across_documents_and_capped():
    pool = {"a": [f"a{i}" for i in range(10)], "b": ["b0", "b1"], "c": ["c0"]}
    sample = replay_sample(pool, 6, seed=1)
    assert len(sample) == 6 and {"b0", "b1", "c0"} <= set(sample)
    assert sorted(replay_sample(pool, 100, seed=1)) == sorted(x for xs in pool.values() for x in xs)
    assert replay_sample(pool, 0, seed=1) == []


def test_bad_strategy_input(tiny_engine, docs):
    with pytest.raises(InputError, match="unknown strategy"):
        make("forget", tiny_engine)
    with pytest.raises(InputError, match="nothing to train on"):
        make("replay", tiny_engine).learn("x", docs[0].passages, [])
