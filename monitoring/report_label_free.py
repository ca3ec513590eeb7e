"""The report's label-free figures: what the model's calibrated confidences expect, beside what
people checked, and whether the checks contradict them (monitoring/label_free.py).

Needs no ground truth: without it the report still says what precision and accuracy the
confidences expect, if calibration holds. With it, each label-free figure is tested against the
checked drivers it covers: the audited routed drivers for precision, every checked usable driver
for accuracy.
"""
from typing import List, Optional, Tuple

import numpy as np

from monitoring.formatting import calibration_verdict, label_free_share
from monitoring.label_free import check_calibration, expected_share_right


def label_free_figures(confidences: np.ndarray, usable: np.ndarray, threshold: float,
                       correct: Optional[np.ndarray] = None,
                       checked: Optional[np.ndarray] = None) -> Tuple[dict, List[str]]:
    """(summary["label_free"], the sentences stating it), over the usable drivers; correct and
    checked (boolean arrays over every capture) add the calibration checks."""
    routed = usable & (confidences >= threshold)
    precision = expected_share_right(confidences[routed].tolist())
    accuracy = expected_share_right(confidences[usable].tolist())
    figures = {"precision_accepted": precision.as_dict(), "accuracy": accuracy.as_dict(),
               "precision_text": label_free_share(precision, "routed drivers"),
               "accuracy_text": label_free_share(accuracy, "usable drivers")}
    if checked is None:
        return figures, [f"Label-free (no labels needed): precision among the drivers routed at {threshold:g}, "
                         f"{figures['precision_text']}; accuracy over every usable driver, "
                         f"{figures['accuracy_text']}."]
    audited = routed & checked
    routed_check = check_calibration(list(zip(confidences[audited].tolist(), correct[audited].tolist())))
    everyone = usable & checked
    usable_check = check_calibration(list(zip(confidences[everyone].tolist(), correct[everyone].tolist())))
    figures.update(calibration_routed=routed_check.as_dict(), calibration_checked=usable_check.as_dict(),
                   precision_check_text=calibration_verdict(routed_check, "audited routed drivers"),
                   accuracy_check_text=calibration_verdict(usable_check, "checked usable drivers"),
                   contradicted=routed_check.contradicted or usable_check.contradicted)
    return figures, [figures["precision_check_text"], figures["accuracy_check_text"]]
