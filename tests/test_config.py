"""The four config layers merge in one place (config.layered): defaults → preset → saved → flags."""

from seal_desk.config import INTERACTIVE, SAVED_VERSION, SealConfig, layered
from seal_desk.model.presets import Preset

INTERACTIVE_STOP = INTERACTIVE["inner"]["stop_loss"]


def _preset(**kw) -> Preset:
    return Preset("p", "", "x/y", **kw)


def test_defaults_alone_are_the_paper_defaults():
    assert layered() == SealConfig()


def test_each_layer_overrides_the_one_below_and_keeps_the_rest():
    preset = _preset(inner_loop={"epochs": 5, "lr": 2e-3}, self_edit={"format": "self-qa"})
    saved = {"inner": {"epochs": 3}, "self_edit": {"k": 2}}
    flags = {"inner": {"lora": {"r": 8}}, "self_edit": {"k": 4}}
    cfg = layered(preset, saved, flags)
    assert cfg.inner.epochs == 3  # saved over preset
    assert cfg.inner.lr == 2e-3  # preset, untouched above
    assert cfg.inner.lora.r == 8 and cfg.inner.lora.alpha == 64  # flag, rest of lora from below
    assert cfg.self_edit.k == 4 and cfg.self_edit.format == "self-qa"
    assert cfg.recall == SealConfig().recall


def test_a_full_saved_config_wins_over_the_preset():
    saved = SealConfig().to_dict()
    assert layered(_preset(inner_loop={"epochs": 5}), saved) == SealConfig()


def test_unknown_keys_are_ignored():
    assert layered(None, {"inner": {"nope": 1}, "other": 2}) == SealConfig()


def test_a_preset_s_self_edit_defaults_are_for_its_learner():
    """Set for the learner the preset names (e.g. a SEAL-trained generator): without it merged (--learner none,
    4-bit weights) the plain model keeps the paper's self-edit defaults; the rest of the preset stands."""
    preset = _preset(learner="learners/gen", inner_loop={"epochs": 5}, self_edit={"format": "self-qa"})
    assert layered(preset).self_edit.format == "self-qa"
    plain = layered(preset, learner_merged=False)
    assert plain.self_edit == SealConfig().self_edit and plain.inner.epochs == 5
    assert layered(_preset(self_edit={"format": "rewrite"}), learner_merged=False).self_edit.format == "rewrite"


def test_interactive_learning_stops_on_convergence_and_benchmarks_do_not():
    """config.INTERACTIVE (the stop rule) lies over the preset for the TUI and `learn`; saved settings and flags
    still win; without `interactive` (benchmarks, the outer loop) the paper's fixed epochs stay."""
    from seal_desk.config import INTERACTIVE

    assert layered().inner.stop_loss == 0.0
    assert layered(interactive=True).inner.stop_loss == INTERACTIVE["inner"]["stop_loss"] > 0
    assert layered(interactive=True).inner.epochs == 10  # the schedule still spans the paper's epochs
    chosen = {"version": SAVED_VERSION, "inner": {"stop_loss": 0.0}}  # the user set 0 in the Settings tab
    assert layered(saved=chosen, interactive=True).inner.stop_loss == 0.0
    assert layered(flags={"inner": {"stop_loss": 0.15}}, interactive=True).inner.stop_loss == 0.15


def test_settings_saved_before_the_stop_rule_field_do_not_turn_it_off():
    """A version-1 save is a whole to_dict, with stop_loss 0.0 nobody chose: the interactive default applies;
    any other value in it (or in a later save) still counts."""
    old = SealConfig().to_dict()  # what the Settings tab saved before: every field, stop_loss 0.0
    assert layered(saved=old, interactive=True).inner.stop_loss == INTERACTIVE_STOP
    assert layered(saved=old).inner.stop_loss == 0.0
    old["inner"]["stop_loss"] = 0.2
    assert layered(saved=old, interactive=True).inner.stop_loss == 0.2


def test_saved_settings_are_what_the_user_changed():
    """to_saved keeps only the differences from the form's defaults (interactive ones included), so `rl` and
    the benchmarks, reading the same settings, keep the paper's epochs after a save in the app."""
    from dataclasses import replace

    from seal_desk.config import to_saved

    form = layered(interactive=True)
    cfg = replace(form, self_edit=replace(form.self_edit, k=3))
    saved = to_saved(cfg, form)
    assert saved == {"version": SAVED_VERSION, "self_edit": {"k": 3}}
    assert layered(saved=saved).inner.stop_loss == 0.0 and layered(saved=saved).self_edit.k == 3
    assert layered(saved=saved, interactive=True).inner.stop_loss == INTERACTIVE_STOP
