"""The threshold maths against values worked out by hand."""
import numpy as np
import pytest

from monitoring import metrics

# Six labelled predictions: wrong at 0.6 and 0.8, right elsewhere.
CONFIDENCES = np.array([0.99, 0.6, 0.9, 0.7, 0.95, 0.8])
CORRECT = np.array([True, False, True, True, True, False])


def test_outcome_at_counts_both_sides_of_the_threshold():
    outcome = metrics.outcome_at(0.9, CONFIDENCES, CORRECT)

    # accepted: 0.9, 0.95, 0.99 (>= is accepted), all right; rejected: 0.6, 0.7, 0.8, one right.
    assert (outcome.accepted, outcome.accepted_correct, outcome.rejected, outcome.rejected_correct) == (3, 3, 3, 1)
    assert outcome.coverage == 0.5
    assert outcome.precision_accepted == 1.0
    assert outcome.accuracy_rejected == pytest.approx(1 / 3)


def test_outcome_at_with_nothing_accepted_has_no_precision():
    outcome = metrics.outcome_at(1.0, CONFIDENCES, CORRECT)

    assert outcome.accepted == 0 and outcome.precision_accepted is None and outcome.rejected_share == 1.0


def test_threshold_curves_cover_every_distinct_confidence():
    curves = metrics.threshold_curves(CONFIDENCES, CORRECT)

    assert curves.thresholds.tolist() == [0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    assert curves.coverage.tolist() == pytest.approx([6 / 6, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert curves.precision.tolist() == pytest.approx([4 / 6, 4 / 5, 3 / 4, 1, 1, 1])


def test_threshold_curves_accept_tied_confidences_together():
    curves = metrics.threshold_curves(np.array([0.9, 0.8, 0.9]), np.array([True, True, False]))

    assert curves.thresholds.tolist() == [0.8, 0.9]
    assert curves.coverage.tolist() == pytest.approx([1, 2 / 3])
    assert curves.precision.tolist() == pytest.approx([2 / 3, 1 / 2])


def test_threshold_curves_agree_with_outcome_at_each_threshold():
    random = np.random.default_rng(1)
    confidences = np.round(random.uniform(0.5, 1, 300), 2)  # rounding makes ties
    correct = random.random(300) < confidences

    curves = metrics.threshold_curves(confidences, correct)

    for threshold, coverage, precision in zip(curves.thresholds, curves.coverage, curves.precision):
        outcome = metrics.outcome_at(threshold, confidences, correct)
        assert (coverage, precision) == pytest.approx((outcome.coverage, outcome.precision_accepted))


@pytest.mark.parametrize("target, expected_threshold", [(0.99, 0.9), (0.8, 0.7), (0.75, 0.7), (0.6, 0.6)],
                         ids=["strict", "exactly-met", "between", "everything"])
def test_recommend_threshold_is_the_lowest_meeting_the_target(target, expected_threshold):
    curves = metrics.threshold_curves(CONFIDENCES, CORRECT)

    index = metrics.recommend_threshold(curves, target)

    assert curves.thresholds[index] == expected_threshold


def test_recommend_threshold_is_none_when_no_threshold_reaches_the_target():
    curves = metrics.threshold_curves(np.array([0.9, 0.7]), np.array([False, True]))

    assert metrics.recommend_threshold(curves, 0.99) is None


def test_calibration_bins_and_expected_calibration_error():
    confidences = np.array([0.55, 0.65, 0.65, 0.95, 0.97, 1.0])
    correct = np.array([True, True, False, True, True, True])

    result = metrics.calibration(confidences, correct, class_count=2, bins=5)

    assert result.bin_edges.tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert result.counts.tolist() == [1, 2, 0, 0, 3]  # 1.0 falls in the last bin
    assert result.accuracy[[0, 1, 4]].tolist() == pytest.approx([1, 0.5, 1])
    assert np.isnan(result.accuracy[2]) and np.isnan(result.mean_confidence[3])
    # (1/6)|1 - 0.55| + (2/6)|0.5 - 0.65| + (3/6)|1 - 0.9733...| = (0.45 + 0.3 + 0.08) / 6
    assert result.expected_calibration_error == pytest.approx(0.83 / 6)


def test_confusion_matrix_rows_are_true_classes():
    matrix = metrics.confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2)

    assert matrix.tolist() == [[1, 1], [1, 2]]


@pytest.mark.parametrize("values, expected", [((), None), ((True, False, False, False), 0.25)],
                         ids=["empty", "quarter"])
def test_share_of_nothing_is_undefined(values, expected):
    assert metrics.share(np.array(values, dtype=bool)) == expected


def test_weighted_wilson_interval_is_the_plain_one_for_equal_weights_and_wider_for_mixed_ones():
    correct = np.array([True] * 18 + [False] * 2)
    plain = metrics.wilson_interval(18, 20)

    equal = metrics.weighted_wilson_interval(correct, np.full(20, 3.0))
    mixed = metrics.weighted_wilson_interval(correct, np.array([20.0] * 5 + [1.0] * 15))

    assert (equal.successes, equal.trials) == (18, 20)
    assert (equal.low, equal.high) == pytest.approx((plain.low, plain.high))
    assert mixed.high - mixed.low > plain.high - plain.low
    assert metrics.weighted_wilson_interval(np.array([]), np.array([])).low is None
