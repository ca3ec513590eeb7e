"""Champion against challenger: pairing, the paired test, and verdicts on pairs with a known answer."""
import json
from datetime import timedelta

import pytest

import settings
from monitoring import capture_format, compare, ground_truth
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


@pytest.mark.parametrize("b, c, verdict", [(20, 2, compare.PROMOTE), (2, 20, compare.KEEP), (3, 2, compare.UNDECIDED)],
                         ids=["challenger-clearly-better", "champion-clearly-better", "too-close-to-call"])
def test_verdict_on_pairs_with_a_known_answer(b, c, verdict):
    pairs, labels = pairs_with(champion_right=c, challenger_right=b, both_right=30, both_wrong=0)

    result = compare.compare(pairs, labels)

    assert (result["challenger_better"], result["champion_better"]) == (b, c)
    assert result["verdict"] == verdict


def test_not_enough_evidence_says_how_many_more_checked_drivers_would_decide():
    pairs, labels = pairs_with(champion_right=1, challenger_right=4, both_right=20, both_wrong=0)

    result = compare.compare(pairs, labels)

    assert result["verdict"] == compare.UNDECIDED
    # 5 disagreements in 25 checked, 4:1: at that split 10 disagreements (8:2) are not yet enough, 12 (10:2) are.
    assert result["more_labels_to_decide"] == pytest.approx(35, abs=15)


def test_a_better_labeller_that_routes_wrongly_is_kept_out():
    pairs, labels = pairs_with(champion_right=0, challenger_right=30, both_right=10, both_wrong=0)
    # The challenger routes 10 drivers (0.99) that are wrong; the champion routes none of them.
    for index in range(10):
        labels[f"bad-{index}"] = "motorcycle"
        pairs.append(compare.Pair(f"bad-{index}", answer(0.7, "motorcycle"), answer(0.99, "bicycle"), f"bad-{index}"))

    result = compare.compare(pairs, labels)

    assert result["challenger_better"] == 30 and result["champion_better"] == 10 and result["mcnemar_p_value"] < 0.01
    assert result["variants"]["challenger"]["precision_accepted"] == pytest.approx(40 / 50)
    assert result["verdict"] == compare.KEEP


def test_photos_the_challenger_was_trained_on_never_count():
    pairs, labels = pairs_with(champion_right=0, challenger_right=20, both_right=5, both_wrong=0)

    result = compare.compare(pairs, labels, trained_on={f"challenger-{index}" for index in range(20)})

    assert result["pairs"] == 5 and result["challenger_better"] == 0 and result["verdict"] == compare.UNDECIDED


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
