import json
import random

import pytest

from seal_desk.bench.knowledge import bootstrap_ci, select
from seal_desk.errors import InputError
from seal_desk.events import Message, Progress
from seal_desk.knowledge.documents import load_data_file
from tests.helpers import shared


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


def _data(tmp_path):
    data = tmp_path / "d.json"
    data.write_text(
        json.dumps(
            [
                {
                    "title": "A",
                    "context": "Alpha was founded in 1901.",
                    "questions": [{"question": "When?", "answer": "1901"}],
                    "self_edits": ["- Alpha began in 1901."],
                },
                {
                    "title": "B",
                    "context": "Beta is blue.",
                    "questions": [{"question": "Color?", "answer": "blue"}],
                    "self_edits": ["- Beta has a blue color."],
                },
            ]
        )
    )
    return data


@pytest.fixture
def engine(tiny, fast_config):
    from seal_desk.engine import Engine

    return Engine(tiny, None, fast_config)


def test_knowledge_bench_core_returns_the_rows_without_a_console(engine, tmp_path, capsys):
    from seal_desk.bench.knowledge import KnowledgeBench, KnowledgeBenchOptions, run_knowledge_bench

    events = []
    options = KnowledgeBenchOptions(
        str(_data(tmp_path)), n=2, order="file", conditions=("base", "passage", "given-self-edits")
    )
    result = run_knowledge_bench(engine, options, on_event=events.append)
    assert capsys.readouterr() == ("", "")  # nothing printed: rendering is the CLI's
    assert list(result["conditions"]) == ["base", "passage", "given-self-edits"]
    assert [r["title"] for r in result["per_passage"]["passage"]] == ["A", "B"]
    assert (
        result["conditions"]["base"]["tokens_per_passage"] == 0 < result["conditions"]["passage"]["tokens_per_passage"]
    )
    assert [e.completed for e in events if isinstance(e, Progress) and e.task == "passages"] == [0, 1, 2]
    assert sum(isinstance(e, Message) for e in events) == 2  # one line per passage
    with pytest.raises(InputError, match="unknown condition"):
        KnowledgeBench(engine, KnowledgeBenchOptions(options.data, conditions=("nope",)))
    with pytest.raises(InputError, match="needs --generator"):
        KnowledgeBench(engine, KnowledgeBenchOptions(options.data, conditions=("seal",)))


def test_bench_table_core_combines_and_regrades(tmp_path):
    from seal_desk.bench.combine import combine, read_results

    rows = [
        {
            "title": "A",
            "correct": 0,
            "questions": 1,
            "lax": 0,
            "f1": 0.0,
            "tokens": 0,
            "seconds": 1.0,
            "answers": [{"question": "When?", "gold": "1901", "answer": "In 1901.", "correct": False, "lax": False}],
        }
    ]
    run = {
        "model": "m",
        "data": "d.json",
        "n": 1,
        "seed": 42,
        "format": "implications",
        "learner": None,
        "conditions": {"base": {"label": "Base model"}},
        "per_passage": {"base": rows},
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(run))
    result = combine(read_results([path, path]))
    assert list(result["conditions"]) == ["base", "base (run 2)"] and result["combined_from"] == 2
    assert result["conditions"]["base"]["correct"] == 1  # graded again under the current rules
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(InputError, match="not a `bench knowledge --json` result"):
        read_results([tmp_path / "bad.json"])


def test_bench_and_continual_know_nothing_of_the_cli():
    """The cores return data: no rich, no seal_desk.cli; only the CLI (and the launcher) imports the CLI."""
    import ast
    import pkgutil
    import subprocess
    import sys
    from pathlib import Path

    import seal_desk

    cores = [
        m.name
        for m in pkgutil.walk_packages(seal_desk.__path__, "seal_desk.")
        if m.name.startswith(("seal_desk.bench", "seal_desk.continual"))
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in cores)
        + "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'rich' "
        "or m.startswith('seal_desk.cli'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    root = Path(seal_desk.__file__).parent
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("cli/") or rel in ("__main__.py", "launcher.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "seal_desk.cli" or n.startswith("seal_desk.cli.") for n in names), rel


def test_lora_flops_count_base_linears_once_and_causal_attention(tiny):
    from seal_desk.bench.speed import linear_params, lora_train_flops

    cfg = tiny.model.config
    per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128  # q, o; k, v (2 kv heads of 16); gate, up, down
    lm_head = 64 * cfg.vocab_size  # tied to the embeddings, still a matmul per token
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (64, 128, 2)
    assert linear_params(tiny.model) == 2 * per_layer + lm_head
    n = 2 * per_layer + lm_head
    assert lora_train_flops(tiny.model, [10, 20], epochs=3) == 3 * sum(
        4 * n * s + 3 * 2 * 2 * s * s * 64 for s in (10, 20)
    )


def test_lora_flops_do_not_count_an_adapters_wrappers(tiny):
    """With LoRA layers injected (as the engine trains), each base matmul still counts once."""
    import copy

    from peft import LoraConfig, get_peft_model

    from seal_desk.bench.speed import linear_params

    plain = linear_params(tiny.model)
    wrapped = get_peft_model(
        copy.deepcopy(tiny.model), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"])
    )
    assert linear_params(wrapped) == plain


class _RecordingEngine:
    """Stands in for an Engine: records the stop rule in force when it learns or trains, then fails."""

    def __init__(self):
        from seal_desk.config import layered

        self.config = layered()
        self.seen = []

    def configured(self, cfg):
        from seal_desk.engine import Engine

        return Engine.configured(self, cfg)

    def interactive(self):
        from seal_desk.engine import Engine

        return Engine.interactive(self)

    def learn(self, *args, **kwargs):
        self.seen.append(self.config.inner.stop_loss)
        raise RuntimeError("stop here")

    train_on = learn


def test_the_interactive_arms_run_with_the_stop_rule_and_restore_the_config():
    """bench speed's interactive learn and --compare-reference's stop-rule arm run under config.INTERACTIVE;
    the paper's config is back afterwards, also when they fail."""
    from seal_desk.bench.reference_recipe import _train_ours
    from seal_desk.bench.speed import interactive_learn_stages
    from seal_desk.config import INTERACTIVE

    engine = _RecordingEngine()
    for run in (lambda: interactive_learn_stages(engine), lambda: _train_ours(engine, ["x"], stop_rule=True)):
        with pytest.raises(RuntimeError):
            run()
        assert engine.config.inner.stop_loss == 0.0
    with pytest.raises(RuntimeError):
        _train_ours(engine, ["x"], stop_rule=False)
    assert engine.seen == [INTERACTIVE["inner"]["stop_loss"]] * 2 + [0.0]
