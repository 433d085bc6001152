"""Metric parity with the SQuAD v1.1 script (as XTREME scores TyDiQA) and the SQuAD v2 script."""
import inspect
import pytest

from xlt.model.metrics import accuracy, f1, normalize_answer, squad_scores, squad_v2_scores


@pytest.mark.parametrize("raw,normalised", [
    ("The Eiffel Tower!", "eiffel tower"),           # article + ASCII punctuation
    ("  an   apple,  a pear ", "apple pear"),        # whitespace collapse, several articles
    ("Theory", "theory"),                            # 'the' only as a whole word
    ("١٢٣ «القاهرة»،", "١٢٣ «القاهرة»،"),             # Unicode marks stay (not ASCII punctuation)
    ("মানুষ।", "মানুষ।"),                            # Bengali danda stays
    ("Ünïcödé-Wörter", "ünïcödéwörter"),             # hyphen removed, letters lower-cased
    ("1832—1833", "1832—1833"),                      # em dash is not ASCII punctuation
])
def test_normalize_answer(raw, normalised):
    assert normalize_answer(raw) == normalised


def test_f1_token_overlap():
    assert f1("the cat sat", "cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))
    assert f1("dog", "cat") == 0.0


def test_squad_v1_max_over_gold_answers_and_x100():
    golds = {"q1": ["Paris", "the city of Paris"], "q2": ["1832—1833"], "q3": ["Москва"]}
    preds = {"q1": "city of paris", "q2": "в 1832—1833", "q3": "москва"}
    s = squad_scores(preds, golds)
    assert s["exact_match"] == pytest.approx(100 * 2 / 3)   # q1 matches its 2nd gold; q3 after lowercasing
    assert s["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 3)


def test_squad_v1_empty_and_missing_predictions_score_zero():
    golds = {"a": ["x y"], "b": ["z"]}
    assert squad_scores({"a": ""}, golds) == {"exact_match": 0.0, "f1": 0.0}


def test_squad_v2_no_answer_rules():
    golds = {"has": ["Warsaw"], "none": []}
    right = squad_v2_scores({"has": "Warsaw", "none": ""}, golds)
    assert right["exact_match"] == right["f1"] == 100.0
    assert right["HasAns_f1"] == right["NoAns_f1"] == 100.0
    wrong = squad_v2_scores({"has": "", "none": "Warsaw"}, golds)
    assert wrong["exact_match"] == wrong["f1"] == 0.0


def test_accuracy():
    assert accuracy({"a": 1, "b": 0}, {"a": 1, "b": 1}) == {"accuracy": 0.5}


def test_squad_v2_drops_gold_answers_that_normalise_to_nothing():
    # official v2: gold "The" normalises to "" and is dropped -> the question counts as unanswerable
    s = squad_v2_scores({"q": ""}, {"q": ["The"]})
    assert s["exact_match"] == 100.0 and "NoAns_f1" in s and "HasAns_f1" not in s
    # v1 keeps it: an empty prediction matches the normalised-empty gold exactly, but shares no token
    # with it: F1 0, as XTREME's third_party/evaluate_squad.py f1_score (num_same == 0 -> 0)
    assert squad_scores({"q": ""}, {"q": ["The"]}) == {"exact_match": 100.0, "f1": 0.0}
    assert squad_scores({"q": "a"}, {"q": ["The"]}) == {"exact_match": 100.0, "f1": 0.0}


def test_f1_of_empty_answers_v1_as_xtreme_v2_as_the_official_v2_script():
    assert f1("", "The") == f1("the", "") == f1("", "") == 0.0  # v1 (XTREME): no shared token
    assert f1("", "", v2=True) == 1.0 and f1("", "The", v2=True) == 1.0 and f1("x", "", v2=True) == 0.0


def test_non_latin_partial_overlap_f1():
    # Bengali/Telugu tokens split on whitespace only; the danda stays attached
    s = squad_scores({"q": "ঢাকা শহর।"}, {"q": ["ঢাকা শহর"]})
    assert s["exact_match"] == 0.0 and s["f1"] == pytest.approx(50.0)


def test_token_accuracy_and_binary_f1():
    from xlt.model.metrics import binary_f1, token_accuracy

    assert token_accuracy({"s": ["N", "V"]}, {"s": ["N", "N", "."]}) == {"accuracy": 1 / 3}
    assert binary_f1({"a": 1, "b": 1, "c": 0}, {"a": 1, "b": 0, "c": 1}) == {"f1": 0.5}


def test_points_is_the_one_accuracy_to_points_rule():
    """Accuracy is stored as a fraction and shown in points; EM/F1 are points already. Selection (training
    score and calibration's choice) and the report tables all convert through this one helper."""
    from xlt.analysis import report
    from xlt.model.metrics import points
    from xlt.steps import calibration
    from xlt.train import loop

    assert points("accuracy", 0.655) == 65.5 and points("f1", 71.25) == 71.25 and points("exact_match", 3) == 3.0
    assert loop.points is report.points is points
    assert "from xlt.model.metrics import points" in inspect.getsource(calibration)
