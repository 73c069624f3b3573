import pytest

from seal_desk.knowledge.grading import (
    exact_match,
    grade,
    normalize,
    recitation_floor,
    rivals,
    sentences,
    states_answer,
    token_f1,
)


def test_normalize_squad_style():
    assert normalize("The  Eiffel Tower!") == "eiffel tower"
    assert normalize("4,200 people") == "4200 people"


@pytest.mark.parametrize(
    "answer,gold,ok",
    [
        ("It was founded in 1950.", "5", False),
        ("It was founded in 1950.", "1950", True),
        ("Founded by Mira Kostadinova.", "Mira Kostadinova", True),
        ("Founded by Mira.", "Mira Kostadinova", False),
        ("about 4,200 people", "4200", True),
        ("Paris", "the Paris", True),
        ("Parisian food", "Paris", False),
        ("", "Paris", False),
    ],
)
def test_states_answer_whole_tokens(answer, gold, ok):
    assert states_answer(answer, gold) is ok


def test_exact_and_f1():
    assert exact_match("the Paris.", "Paris")
    assert token_f1("Mira Kostadinova", "Mira Kostadinova") == 1.0
    assert token_f1("Mira Smith", "Mira Kostadinova") == pytest.approx(0.5)
    assert token_f1("nothing", "Paris") == 0.0
    g = grade("In 1987.", "1987")
    assert g.correct and not g.exact and 0 < g.f1 < 1


def test_strict_grading_refuses_recited_sentences_that_state_other_answers():
    answers = ["Mira Kostadinova", "1987", "ceramic wind turbines", "May 1987"]
    others = rivals("1987", answers)
    assert others == ("Mira Kostadinova", "ceramic wind turbines")  # "May 1987" overlaps its own answer
    recited = "Zorblat Industries was founded in 1987 by Mira Kostadinova."
    g = grade(recited, "1987", others)
    assert g.lax and not g.correct and g.lax_correct
    assert grade("In 1987.", "1987", others).correct
    assert grade("In May 1987.", "1987", others).correct  # an overlapping answer is not a rival
    assert not grade("Mira Kostadinova", "1987", others).lax
    # an answer the question itself names is no rival: repeating the question is not reciting
    asked = rivals("1987", answers, "Zorblat: when did Mira Kostadinova found the firm?")
    assert asked == ("ceramic wind turbines",) and grade(recited, "1987", asked).correct


def test_recitation_floor_counts_sentences_that_would_pass():
    text = "Alpha was born in 1901. Alpha lived in Brigg. Alpha moved to Brigg in 1930 with Cole."
    answers = ["1901", "Brigg", "Cole"]
    floor = recitation_floor([(text, [("Alpha?", a) for a in answers])])
    # 1901: 1 of 3 sentences (strict and lax); Brigg: 2 lax, 1 strict (the third states Cole too);
    # Cole: 1 lax, 0 strict.
    assert floor.lax == pytest.approx((1 / 3 + 2 / 3 + 1 / 3) / 3)
    assert floor.strict == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert sentences(text) == [
        "Alpha was born in 1901.",
        "Alpha lived in Brigg.",
        "Alpha moved to Brigg in 1930 with Cole.",
    ]
