"""The paraphrased invented-facts benchmark: sizes, the dev/test split, and the no-shared-key-phrase rule."""

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[2] / "benchmarks"
spec = importlib.util.spec_from_file_location("check_paraphrased", HERE / "check_paraphrased.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def _load(name):
    return json.loads((HERE / "paraphrased" / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["dev", "test", "train", "rl"])
def test_questions_do_not_reuse_the_answering_sentence(name):
    assert check.problems(_load(name)) == []


def test_eval_set_is_large_enough_and_its_halves_are_disjoint():
    dev, test, train, rl = _load("dev"), _load("test"), _load("train"), _load("rl")
    assert len(dev) + len(test) >= 40
    assert sum(len(p["questions"]) for p in dev + test) >= 200
    contexts = [p["context"] for p in dev + test + train + rl]
    assert len(set(contexts)) == len(contexts)  # no passage in two files


def test_the_checker_catches_a_question_that_copies_its_sentence():
    passage = {
        "title": "Zorblat",
        "context": "The firm was founded in 1987 by Mira Kostadinova in Velmora. " * 1
        + "It makes ceramic wind turbines and employs a great many workers across several large sites. "
        + "Its headquarters moved to Port Ellin in 2003, after a long dispute with the local council there.",
        "questions": [
            {"question": "Who founded the firm in Velmora?", "answer": "Mira Kostadinova"},
            {"question": "What does it build?", "answer": "ceramic wind turbines"},
            {"question": "When did the main office relocate?", "answer": "2003"},
            {"question": "Which place hosts the main office?", "answer": "Port Ellin"},
            {"question": "In what year did the business begin?", "answer": "1987"},
        ],
    }
    found = check.problems([passage])
    assert any("Q1" in line and "shares" in line for line in found)
    assert not any("Q2" in line or "Q4" in line or "Q5" in line for line in found)
