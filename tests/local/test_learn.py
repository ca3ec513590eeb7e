"""The learning cycle end to end on the stand-in, with the tiny model and a tiny challenger."""
import shutil

import numpy as np
import pytest
from PIL import Image

import settings
from local import learn
from monitoring import compare

pytestmark = pytest.mark.slow


def write_photos(root, count: int = 7):
    rng = np.random.RandomState(3)
    for folder, channel in (("bicycle", 0), ("motorcycle", 2), ("other", None)):
        (root / folder).mkdir(parents=True)
        for index in range(count):
            pixels = rng.randint(0, 90, (48, 64, 3))
            if channel is None:
                pixels = np.repeat(rng.randint(60, 200, (48, 64, 1)), 3, axis=2)
            else:
                pixels[..., channel] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(root / folder / f"{folder}-{index}.png")
    return root


def test_photos_in_takes_the_answer_from_each_photos_folder(tmp_path):
    write_photos(tmp_path / "photos", 2)
    (tmp_path / "photos" / "notes").mkdir()
    (tmp_path / "photos" / "notes" / "x.png").write_bytes(b"not counted")

    found = learn.photos_in([tmp_path / "photos"])

    assert sorted({answer for _, answer in found}) == sorted(settings.FOLDER_ANSWERS.values())
    assert len(found) == 6
    with pytest.raises(learn.LearnError, match="no photos in folders named"):
        learn.photos_in([tmp_path / "photos" / "notes"])


def test_learn_runs_the_cycle_and_promotes_only_on_a_promote_verdict(tmp_path, tiny_model_dir):
    photos = write_photos(tmp_path / "photos")
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    said = []
    tiny = {"epochs": 1, "input-size": 32, "batch-size": 8, "validation-fraction": 0.1}

    outcome = learn.learn([photos], model_dir, later_share=0.4, hyperparameters=tiny, progress=False,
                          say=said.append, data_dir=tmp_path / "data", report_dir=tmp_path / "report", audit_share=1.0)

    comparison = outcome["comparison"]
    assert outcome["package"].startswith("arn:aws:sagemaker:")
    assert comparison["pairs"] == 8  # the later 40% of 21, answered by both variants
    # Only what people were asked counts: reviews and audits, never the routed drivers nobody checked.
    assert 1 <= comparison["checked"] < comparison["pairs"] or comparison["variants"]["champion"]["coverage"] == 0
    assert any(line.startswith("2. The deterioration monitor") for line in said)
    # The monitor judges the champion with the answers so far: audited beside label-free precision.
    assert any(line.strip().startswith(("Precision of automatic routing at 0.95", "No driver was routed at 0.95",
                                        "No routed driver in this window was audited")) for line in said)
    # The champion's certificate on the first share: 21 photos certify nothing, so the stand-in's
    # threshold stays the default, and the verdict gives each model its own "not yet".
    assert outcome["certificate"]["certified"] is False
    assert any(line.strip().startswith("Certificate: Not yet certified") for line in said)
    assert sum(line.strip().startswith("certificate from its shadow answers: Not yet certified") for line in said) == 2
    assert outcome["threshold"]["threshold"] == settings.DEFAULT_THRESHOLD
    assert any(line.strip().startswith("Routing threshold in the stand-in now: 0.95") for line in said)
    # Each model's precision twice, and a verdict that names the sign test's counts.
    assert sum(line.strip().startswith("precision among routed, label-free:") for line in said) == 2
    verdict = next(line for line in said if line.strip().startswith("Verdict:"))
    assert "checked drivers the champion does not" in verdict and "sign test p = " in verdict
    # The approval started deployChallenger (the stack's rule), and promoteChallenger judged.
    assert any(line.startswith("4. Approved: deployChallenger put it in shadow") for line in said)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Champion and challenger" in page and outcome["report"].endswith("report.html")
    if comparison["verdict"] == compare.PROMOTE:
        assert outcome["promoted"] and any(p.name.startswith("model-previous-") for p in tmp_path.iterdir())
    else:
        assert outcome["promoted"] is None
        assert (model_dir / "model-0000.params").read_bytes() == (tiny_model_dir / "model-0000.params").read_bytes()
        assert any(line.strip().startswith("Not promoted: the verdict is") for line in said)


def test_learn_on_the_cifar_test_images_says_they_never_train_a_challenger(tmp_path, tiny_model_dir):
    from local import product
    data = tmp_path / "data"
    product.stage_images(data)
    for name in settings.CLASS_NAMES:   # a few of the staged test images, as drivers' photos
        (tmp_path / "photos" / name).mkdir(parents=True)
        for path in sorted((data / "test" / name).iterdir())[:5]:
            shutil.copy(path, tmp_path / "photos" / name / path.name)
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)

    with pytest.raises(learn.LearnError) as raised:
        learn.learn([tmp_path / "photos"], model_dir, later_share=0.4, progress=False, say=lambda line: None,
                    data_dir=data, report_dir=tmp_path / "report")

    # The Lambda's own words, not the Fail state's fixed cause: every answer was a base test photo.
    from training import dataset
    assert "NotEnoughNewLabels" in str(raised.value) and f"'{dataset.IN_BASE_TEST}': 6" in str(raised.value)
