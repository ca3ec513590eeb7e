"""Champion against challenger: pairing, the paired test, and verdicts on pairs with a known answer."""
import json
import random
from datetime import timedelta

import pytest

import settings
from monitoring import capture_format, compare, estimates, ground_truth
from monitoring.review_simulation import simulated_window
from tests.monitoring.conftest import ENDPOINT, START


def answer(confidence, predicted="bicycle", usable=True):
    return compare.Answer(confidence, predicted, usable)


def pairs_with(champion_right, challenger_right, both_right, both_wrong, unlabelled=0):
    """Drivers the champion sent to people (confidence 0.8, all reviewed), with the two models'
    guesses right or wrong as asked, and drivers both routed whom nobody checked."""
    pairs, labels = [], {}
    groups = [("champion", champion_right, True, False), ("challenger", challenger_right, False, True),
              ("both", both_right, True, True), ("neither", both_wrong, False, False)]
    for group, count, champion_ok, challenger_ok in groups:
        for index in range(count):
            inference_id = f"{group}-{index}"
            labels[inference_id] = "bicycle"
            # The challenger is sure when right and unsure when wrong: it routes only its right answers.
            pairs.append(compare.Pair(inference_id, answer(0.8, "bicycle" if champion_ok else "motorcycle"),
                                      answer(0.99 if challenger_ok else 0.7, "bicycle" if challenger_ok else "motorcycle"),
                                      inference_id))
    for index in range(unlabelled):
        pairs.append(compare.Pair(f"routed-{index}", answer(0.99), answer(0.99), f"routed-{index}"))
    return pairs, labels


def routing_pairs(gained=0, lost=0, alike=0, unchecked_lost=0, wrong_routes=0, unaudited_alike=0):
    """Drivers by how the two decide (0.99 routes, 0.8 goes to a person), all bicycles:
    gained: the champion asks a person, the challenger routes right (reviewed);
    lost: the champion routes right, the challenger asks a person (audited);
    alike: both route right (audited); unchecked_lost: as lost, nobody audited;
    wrong_routes: the champion asks a person, the challenger routes a motorcycle (reviewed);
    unaudited_alike: both route, nobody audited."""
    groups = [("gained", gained, (0.8, "bicycle"), (0.99, "bicycle"), True),
              ("lost", lost, (0.99, "bicycle"), (0.8, "bicycle"), True),
              ("alike", alike, (0.99, "bicycle"), (0.99, "bicycle"), True),
              ("unchecked-lost", unchecked_lost, (0.99, "bicycle"), (0.8, "bicycle"), False),
              ("wrong", wrong_routes, (0.8, "bicycle"), (0.99, "motorcycle"), True),
              ("unaudited", unaudited_alike, (0.99, "bicycle"), (0.99, "bicycle"), False)]
    pairs, labels = [], {}
    for group, count, champion, challenger, checked in groups:
        for index in range(count):
            inference_id = f"{group}-{index}"
            pairs.append(compare.Pair(inference_id, answer(*champion), answer(*challenger), inference_id))
            if checked:
                labels[inference_id] = "bicycle"
    return pairs, labels


@pytest.mark.parametrize("gained, lost, verdict", [(20, 2, compare.PROMOTE), (2, 20, compare.KEEP),
                                                   (3, 2, compare.UNDECIDED)],
                         ids=["challenger-routes-more-right", "champion-routes-more-right", "too-close-to-call"])
def test_verdict_on_pairs_with_a_known_answer(gained, lost, verdict):
    pairs, labels = routing_pairs(gained=gained, lost=lost, alike=30)

    result = compare.compare(pairs, labels)

    assert (result["routed_right_gained"], result["routed_right_lost"]) == (gained, lost)
    assert result["verdict"] == verdict


def test_a_challenger_that_only_names_classes_better_is_not_promoted_for_it():
    # Where the champion asks a person, the challenger names the class right but is as unsure: a
    # person decides those drivers either way.
    pairs = [compare.Pair(f"d-{n}", answer(0.7, "motorcycle"), answer(0.8, "bicycle"), f"d-{n}") for n in range(30)]
    labels = {pair.inference_id: "bicycle" for pair in pairs}

    result = compare.compare(pairs, labels)

    assert result["challenger_better"] == 30 and result["mcnemar_p_value"] < 1e-6
    assert result["routed_right_gained"] == 0 and result["verdict"] == compare.UNDECIDED


def test_drivers_nobody_audited_count_against_the_challenger():
    pairs, labels = routing_pairs(gained=10, alike=10)
    audited_away = routing_pairs(gained=10, alike=10, unchecked_lost=10)

    assert compare.compare(pairs, labels)["verdict"] == compare.PROMOTE
    result = compare.compare(*audited_away)
    assert result["unchecked_champion_routes"] == 10 and result["verdict"] == compare.UNDECIDED


def test_a_challenger_whose_routing_precision_is_unknown_waits_for_audits():
    pairs, labels = routing_pairs(gained=20, unaudited_alike=30)

    result = compare.compare(pairs, labels)

    assert result["variants"]["challenger"]["precision_accepted"] is None
    assert result["verdict"] == compare.UNDECIDED and "audit" in result["reason"]


def test_not_enough_evidence_says_how_many_more_checked_drivers_would_decide():
    pairs, labels = routing_pairs(gained=4, lost=1, alike=20)

    result = compare.compare(pairs, labels)

    assert result["verdict"] == compare.UNDECIDED
    # 4 gained against 1 lost (p = 0.19); at twice as many 8:2 (p = 0.055) is not yet enough, 12:3 (p = 0.018) is.
    assert result["more_labels_to_decide"] == 2 * 25


def test_a_better_router_that_routes_wrongly_is_kept_out():
    pairs, labels = routing_pairs(gained=30, wrong_routes=10, alike=10)

    result = compare.compare(pairs, labels)

    assert result["challenger_routes_better_p_value"] < 1e-6
    assert result["variants"]["challenger"]["precision_accepted"] == pytest.approx(40 / 50)
    assert result["verdict"] == compare.KEEP and "less precisely" in result["reason"]


def test_photos_the_challenger_was_trained_on_never_count():
    pairs, labels = routing_pairs(gained=20, alike=5)

    result = compare.compare(pairs, labels, trained_on={f"gained-{index}" for index in range(20)})

    assert result["pairs"] == 5 and result["left_out_trained_on"] == 20
    assert result["routed_right_gained"] == 0 and result["verdict"] == compare.UNDECIDED


def test_coverage_is_counted_over_every_pair_and_precision_estimated_by_the_champions_strata():
    pairs, labels = pairs_with(champion_right=0, challenger_right=0, both_right=10, both_wrong=0, unlabelled=30)

    result = compare.compare(pairs, labels)

    champion, challenger = result["variants"]["champion"], result["variants"]["challenger"]
    assert champion["coverage"] == pytest.approx(30 / 40) and challenger["coverage"] == 1.0
    # The champion's 30 routed drivers were never audited: its precision is unknown, its interval wide open.
    assert champion["precision_accepted"] is None and champion["precision_interval"] == [0.0, 1.0]
    assert challenger["precision_interval"][1] == 1.0 and challenger["precision_interval"][0] <= 10 / 40


def test_mcnemar_exact_p_values():
    assert compare.mcnemar_p_value(0, 0) == 1.0
    assert compare.mcnemar_p_value(10, 0) == pytest.approx(2 / 1024)
    assert compare.mcnemar_p_value(5, 5) == 1.0


def test_read_pairs_pairs_two_variants_on_inference_id(tmp_path):
    for variant, probabilities in (("AllTraffic", [0.9, 0.1]), ("Challenger", [0.2, 0.8])):
        lines = [capture_format.to_jsonl_line(capture_format.build_capture_record(
            f"photo-{n}".encode(), "image/png", json.dumps(probabilities).encode(), "application/json",
            inference_id=f"id-{n}", inference_time=START + timedelta(seconds=n))) for n in range(3 if variant == "AllTraffic" else 2)]
        path = tmp_path / capture_format.capture_key("", ENDPOINT, variant, START)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
    ground_truth.write_ground_truth({"id-0": "motorcycle"}, tmp_path / "truth", when=START)

    pairs = compare.read_pairs(tmp_path, "AllTraffic", "Challenger")

    assert [p.inference_id for p in pairs] == ["id-0", "id-1"]
    assert (pairs[0].champion.predicted, pairs[0].challenger.predicted) == ("bicycle", "motorcycle")
    assert pairs[0].photo_sha256 and pairs[0].photo_sha256 != pairs[1].photo_sha256
    assert compare.main(["--captures", str(tmp_path), "--ground-truth", str(tmp_path / "truth")]) == 0




def test_a_missing_training_manifest_is_an_error_not_an_empty_exclusion(tmp_path, capsys):
    pairs_dir = tmp_path / "captures"
    for variant in ("AllTraffic", "Challenger"):
        path = pairs_dir / capture_format.capture_key("", ENDPOINT, variant, START)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(capture_format.to_jsonl_line(capture_format.build_capture_record(
            b"photo", "image/png", b"[0.9, 0.1]", "application/json", inference_id="id-0", inference_time=START)))
    ground_truth.write_ground_truth({"id-0": "bicycle"}, tmp_path / "truth", when=START)

    code = compare.main(["--captures", str(pairs_dir), "--ground-truth", str(tmp_path / "truth"),
                         "--exclude-manifest", str(tmp_path / "gone" / "manifest.jsonl")])

    assert code == 2
    assert capsys.readouterr().err.startswith("error: the challenger's dataset manifest ")


def test_a_training_manifest_missing_from_s3_raises_manifest_not_found():
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="datasets")
        with pytest.raises(compare.ManifestNotFound, match="s3://datasets/one/manifest.jsonl is not there"):
            compare.trained_photo_hashes("s3://datasets/one/manifest.jsonl", s3)
        with pytest.raises(s3.exceptions.NoSuchBucket):   # anything else is not a missing manifest
            compare.trained_photo_hashes("s3://no-such-bucket/one/manifest.jsonl", s3)


@pytest.mark.parametrize("loss_part, loss_right, audit_rate", [(0.1, 0.9, 0.1), (0.1, 0.9, 0.5), (0.3, 0.3, 0.1)],
                         ids=["few-audits", "half-audited", "champion-often-wrong-where-it-alone-routes"])
def test_neither_side_is_declared_better_more_often_than_its_error_rate_when_they_route_alike(
        loss_part, loss_right, audit_rate):
    """Both route right equally often (gain share x rate = loss share x rate), whatever share of the
    champion's routed drivers is audited: 1,000 windows of 300 drivers."""
    rng = random.Random(20261202)
    gain_part, gain_right = 0.1, loss_part * loss_right / 0.1
    declared = {"challenger": 0, "champion": 0}
    for _ in range(1000):
        pairs, labels = simulated_window(rng, 300, gain_part, gain_right, loss_part, loss_right, audit_rate)
        challenger_p, champion_p = compare.routing_p_values(compare.routing_tally(pairs, labels, 0.95))
        declared["challenger"] += challenger_p < compare.SIGNIFICANCE / 2
        declared["champion"] += champion_p < compare.SIGNIFICANCE / 2

    # Each one-sided test is at 2.5%; 1,000 windows put 3 standard errors at about 1.5 points.
    assert declared["challenger"] / 1000 <= 0.04 and declared["champion"] / 1000 <= 0.04


def test_a_challenger_that_routes_clearly_more_right_is_found_at_a_tenth_audited():
    rng = random.Random(7)
    found = 0
    for _ in range(200):
        pairs, labels = simulated_window(rng, 300, gain_part=0.2, gain_right=0.95, loss_part=0.05, loss_right=0.95,
                                         audit_rate=0.1)
        challenger_p, _ = compare.routing_p_values(compare.routing_tally(pairs, labels, 0.95))
        found += challenger_p < compare.SIGNIFICANCE / 2

    assert found / 200 >= 0.9


def test_the_verdict_names_the_sign_tests_counts_not_precisions_no_check_supports():
    """The situation of issue 24: the champion's precision rests on one audited driver (wrong), the
    challenger's on the same one beside the 22 it alone routes; the verdict is right, and its
    reason quotes the counts, not "41.5% against 0.0%"."""
    pairs, labels = routing_pairs(gained=22, unaudited_alike=30)
    pairs.append(compare.Pair("both-wrong", answer(0.99, "motorcycle"), answer(0.99, "motorcycle"), "both-wrong"))
    labels["both-wrong"] = "bicycle"

    result = compare.compare(pairs, labels)

    champion, challenger = result["variants"]["champion"], result["variants"]["challenger"]
    assert result["verdict"] == compare.PROMOTE
    assert "%" not in result["reason"]
    assert "the challenger routes right 22 checked drivers the champion does not, the champion 0" in result["reason"]
    assert "22 of the 23 checked drivers the challenger routes are right, against 0 of 1 for the champion" in \
        result["reason"]
    assert champion["precision_accepted"] is None and challenger["precision_accepted"] is None
    assert champion["precision_text"].startswith("between 0.0% and ")
    assert "only 1 checked of 31 routed drivers" in champion["precision_text"]
    assert champion["precision_evidence"]["more_checks"] == estimates.MINIMUM_CHECKS - 1


def test_each_model_shows_its_label_free_precision_beside_the_audited_one():
    pairs, labels = routing_pairs(gained=30, wrong_routes=10, alike=10)

    result = compare.compare(pairs, labels)
    lines = compare.table(result)

    challenger = result["variants"]["challenger"]
    # It routes 50 at 0.99 each (0.5 wrong expected), and people found 10 of them wrong.
    assert challenger["label_free_precision"]["value"] == pytest.approx(0.99)
    assert challenger["calibration"]["contradicted"] and challenger["calibration"]["wrong"] == 10
    assert "  precision among routed, label-free: 99.0% (95% interval" in "\n".join(lines)
    assert any(line.strip().startswith("The checked drivers the challenger routes contradict the label-free figure")
               for line in lines)
    assert json.loads(json.dumps(result)) == result   # the bus events carry it as it is


def test_each_model_gets_its_certificate_from_the_shadow_answers_with_the_champions_checks_as_strata():
    # 400 drivers both route, all audited and right; 60 the champion sent to a person (all reviewed),
    # which the challenger routes: 5 of those wrong.
    pairs = [compare.Pair(f"both-{n}", answer(0.99), answer(0.99), f"both-{n}") for n in range(400)]
    pairs += [compare.Pair(f"rescued-{n}", answer(0.8), answer(0.97, "bicycle" if n >= 5 else "motorcycle"),
                           f"rescued-{n}") for n in range(60)]
    labels = {pair.inference_id: "bicycle" for pair in pairs}

    result = compare.compare(pairs, labels, threshold=0.95)

    champion, challenger = (result["variants"][side]["certificate"] for side in ("champion", "challenger"))
    # The champion's own reviewed 60 (answered 0.8) were all right: its census lets it go down to 0.8.
    assert champion["certified"] and champion["threshold"] == 0.8
    assert champion["checks"] == {"audited": {"drivers": 400, "checked": 400, "wrong": 0},
                                  "reviewed": {"drivers": 60, "checked": 60, "wrong": 0, "unanswered": 0}}
    # The challenger routes those 60 at 0.97, 5 of them wrong: 5 of 460 is over 1%, so only its
    # threshold above them is certified, resting on the audited 400 alone.
    assert challenger["certified"] and challenger["threshold"] > 0.97
    assert challenger["checks"]["reviewed"]["drivers"] == 0
    assert challenger["sequence"][-1]["passed"] is False and challenger["sequence"][-1]["reviewed_wrong"] == 5
    assert any(line.startswith("  certificate from its shadow answers: Certified") for line in compare.table(result))


def test_a_shadow_window_with_few_checks_gives_each_model_a_not_yet_with_its_numbers():
    pairs = [compare.Pair(f"d-{n}", answer(0.99), answer(0.99), f"d-{n}") for n in range(100)]
    labels = {f"d-{n}": "bicycle" for n in range(20)}

    result = compare.compare(pairs, labels, threshold=0.95)

    for side in ("champion", "challenger"):
        cert = result["variants"][side]["certificate"]
        assert cert["certified"] is False and cert["missing_checks"]["checks_now"] == 20
        assert cert["answer"].startswith("Not yet certified")
