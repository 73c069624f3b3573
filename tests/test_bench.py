import json
import random

from seal_desk.bench.knowledge import bootstrap_ci, select
from seal_desk.knowledge.documents import load_data_file

from conftest import shared


def test_selection_is_seals_seed_42_shuffle():
    dev = load_data_file(shared("squad/dev_passages.json"))
    given = load_data_file(shared("squad/gpt41_implications_eval200.json"))
    chosen = select(dev, 200, 42)
    assert [p.text for p in chosen] == [p.text for p in given]
    raw = json.loads(shared("squad/dev_passages.json").read_text())
    random.seed(42)
    random.shuffle(raw)
    assert [p.text for p in select(dev, 5, 42)] == [r["context"].strip() for r in raw[:5]]
    assert select(dev, 3, 42, offset=2)[0].text == chosen[2].text


def test_bootstrap_interval():
    lo, hi = bootstrap_ci([(1, 2)] * 50)
    assert lo == hi == 0.5
    lo, hi = bootstrap_ci([(0, 4), (4, 4)] * 10)
    assert 0.25 < lo < 0.5 < hi < 0.75
