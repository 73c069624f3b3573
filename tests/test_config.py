"""The four config layers merge in one place (config.layered): defaults → preset → saved → flags."""

from seal_desk.config import SealConfig, layered
from seal_desk.model.presets import Preset


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
    assert layered(saved={"inner": {"stop_loss": 0.0}}, interactive=True).inner.stop_loss == 0.0
    assert layered(flags={"inner": {"stop_loss": 0.15}}, interactive=True).inner.stop_loss == 0.15
