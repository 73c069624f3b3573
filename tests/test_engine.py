import pytest

from seal_desk.errors import Cancelled
from seal_desk.events import AnswerGraded, CancelToken, TokenGenerated, TrainStep
from seal_desk.knowledge.documents import Document


def test_learn_records_everything(tiny_engine, workspace, passage):
    events = []
    doc = Document("inline", "Zorblat", [passage])
    result = tiny_engine.learn(doc, k=2, on_event=events.append)
    kinds = {type(e) for e in events}
    assert {TokenGenerated, TrainStep, AnswerGraded} <= kinds
    assert len(result.before.answers) == len(result.after.answers) == 2
    assert result.train.steps > 0 and result.sequences[-1] == f"{passage.title}\n{passage.text}"
    run = workspace.runs(doc.id)[0]
    assert run.status == "done" and run.adapter_id == result.adapter_id
    assert run.summary["questions"] == 2
    rows = workspace.results(run.id)
    assert sorted(r["phase"] for r in rows) == ["after", "after", "before", "before"]
    assert len(workspace.self_edits(passage.id)) == 2
    adapter = workspace.adapter(result.adapter_id)
    assert (workspace.adapters_dir / adapter.path.split("/")[-1] / "adapter_model.safetensors").exists()
    js = result.to_json()
    assert js["accuracy_before"] == result.before.accuracy and len(js["per_question"]) == 2


def test_given_self_edits_skip_sampling(tiny_engine, passage):
    doc = Document("inline", "Zorblat", [passage])
    events = []
    result = tiny_engine.learn(
        doc,
        self_edits={0: ["- Mira Kostadinova founded Zorblat Industries in 1987."]},
        save=False,
        on_event=events.append,
    )
    assert not any(isinstance(e, TokenGenerated) for e in events)
    assert result.sequences[0] == "Zorblat Industries\nMira Kostadinova founded Zorblat Industries in 1987."
    assert result.adapter_id is None


def test_cancel_mid_training_keeps_no_adapter(tiny_engine, workspace, passage):
    token = CancelToken()

    def on_event(e):
        if isinstance(e, TrainStep) and e.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        tiny_engine.learn(Document("inline", "Zorblat", [passage]), on_event=on_event, cancel=token)
    assert workspace.runs()[0].status == "cancelled"
    assert workspace.adapters() == []
    assert list(workspace.adapters_dir.iterdir()) == []


def test_loaded_adapter_answers_like_trained_slot(tiny_engine, passage):
    doc = Document("inline", "Zorblat", [passage])
    result = tiny_engine.learn(doc)
    name = tiny_engine.load_adapter(result.adapter_id)
    again = tiny_engine.recall([a.asked for a in result.after.answers], name)
    assert [a.text for a in again.answers] == [a.text for a in result.after.answers]


def test_self_edit_too_long_for_context(tiny_engine, passage):
    from dataclasses import replace

    from seal_desk.errors import InputError

    tiny_engine.loaded.source = replace(tiny_engine.loaded.source)  # tiny: context 2048
    long = replace(passage, text="word " * 3000)
    with pytest.raises(InputError, match="context"):
        tiny_engine.sample_self_edits(long)


def test_optional_judge_is_recorded(tiny_engine, workspace, passage):
    from dataclasses import replace

    tiny_engine.config = replace(tiny_engine.config, recall=replace(tiny_engine.config.recall, judge=True))
    result = tiny_engine.learn(Document("inline", "Zorblat", [passage]), save=False)
    assert all(a.grade.judged in (True, False) for a in result.after.answers)
    assert result.to_json()["judged_after"] is not None
    rows = workspace.results(workspace.runs()[0].id)
    assert all(r["judged"] in (0, 1) for r in rows)


def test_adapter_from_another_model_is_refused(tiny_engine, workspace, passage):
    from seal_desk.errors import InputError

    result = tiny_engine.learn(Document("inline", "Zorblat", [passage]))
    workspace.db.execute("UPDATE adapters SET model='other-model' WHERE id=?", (result.adapter_id,))
    with pytest.raises(InputError, match="trained on other-model"):
        tiny_engine.load_adapter(result.adapter_id)


def test_settings_changed_mid_run_apply_from_the_next_run(tiny_engine, passage):
    from dataclasses import replace

    seen = []

    def on_event(e):
        if isinstance(e, TrainStep):
            seen.append(e.epochs)
            if e.step == 1:  # the TUI saves settings while the run goes on
                tiny_engine.config = replace(tiny_engine.config, inner=replace(tiny_engine.config.inner, epochs=5))

    tiny_engine.learn(Document("inline", "Zorblat", [passage]), save=False, on_event=on_event)
    assert set(seen) == {2} and tiny_engine.run_config.inner.epochs == 5


def test_markup_in_streamed_text_and_messages_is_printed_verbatim():
    import io

    from rich.console import Console

    from seal_desk.cli.progress import RichReporter
    from seal_desk.events import Message, TokenGenerated

    buf = io.StringIO()
    reporter = RichReporter(Console(file=buf, width=80), show_tokens=True)
    reporter(TokenGenerated(0, "a [/x] b [the book]"))
    reporter(Message("see [/oops]", "warning"))
    assert "a [/x] b [the book]" in buf.getvalue() and "see [/oops]" in buf.getvalue()


def test_writing_with_swaps_the_generator_and_restores_it(tiny_engine):
    sentinel, inner = object(), object()
    tiny_engine.generator = sentinel
    with tiny_engine.writing_with(inner) as engine:
        assert engine.generator is inner
    assert tiny_engine.generator is sentinel
    try:
        with tiny_engine.writing_with(None):
            assert tiny_engine.generator is None
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert tiny_engine.generator is sentinel


def test_open_lays_saved_settings_and_flags_over_the_preset(tiny, workspace):
    from seal_desk.engine import Engine

    workspace.set_setting(workspace.config_key(tiny.name), {"inner": {"epochs": 4}, "self_edit": {"k": 2}})
    engine = Engine.open(tiny, workspace, {"self_edit": {"k": 3}})
    assert engine.config.inner.epochs == 4 and engine.config.self_edit.k == 3
    assert Engine.open(tiny).config.inner.epochs == 10


def test_sentences_option_trains_each_sentence_then_the_self_edit_and_passage(tiny_engine, passage):
    from dataclasses import replace

    from seal_desk.knowledge.splitting import sentences

    plain = tiny_engine.sequences_for(passage, ["- Mira Kostadinova founded Zorblat Industries."], "implications", 0.0)
    cfg = tiny_engine.config
    tiny_engine.config = replace(cfg, self_edit=replace(cfg.self_edit, sentences=True))
    split = tiny_engine.sequences_for(passage, ["- Mira Kostadinova founded Zorblat Industries."], "implications", 0.0)
    parts = sentences(passage.text)
    assert len(parts) > 1 and split == [f"{passage.title}\n{s}" for s in parts] + plain
    assert split.count(f"{passage.title}\n{passage.text}") == 1
