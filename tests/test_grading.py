import pytest

from seal_desk.grading import exact_match, grade, normalize, states_answer, token_f1


def test_normalize_squad_style():
    assert normalize("The  Eiffel Tower!") == "eiffel tower"
    assert normalize("4,200 people") == "4200 people"


@pytest.mark.parametrize("answer,gold,ok", [
    ("It was founded in 1950.", "5", False),
    ("It was founded in 1950.", "1950", True),
    ("Founded by Mira Kostadinova.", "Mira Kostadinova", True),
    ("Founded by Mira.", "Mira Kostadinova", False),
    ("about 4,200 people", "4200", True),
    ("Paris", "the Paris", True),
    ("Parisian food", "Paris", False),
    ("", "Paris", False),
])
def test_states_answer_whole_tokens(answer, gold, ok):
    assert states_answer(answer, gold) is ok


def test_exact_and_f1():
    assert exact_match("the Paris.", "Paris")
    assert token_f1("Mira Kostadinova", "Mira Kostadinova") == 1.0
    assert token_f1("Mira Smith", "Mira Kostadinova") == pytest.approx(0.5)
    assert token_f1("nothing", "Paris") == 0.0
    g = grade("In 1987.", "1987")
    assert g.correct and not g.exact and 0 < g.f1 < 1
