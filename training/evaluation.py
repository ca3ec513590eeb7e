"""How a model routes labelled photos, as the workflow would: the figures a challenger is judged by.

For photos in folders named by their answer (bicycle, motorcycle, not_a_vehicle), each photo goes
through the endpoint's own assessment (training/inference.assess: probabilities and usability)
and the workflow's rule (routed when usable and confident at the threshold):

  vehicles   accuracy, routed (coverage at the threshold), routed right (precision), called unusable
  other      routed (what must never happen)

Counts, not only shares, so intervals can be put on them; shipped to SageMaker with training/.
"""
try:
    from training import inference
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import inference

NOT_A_VEHICLE = "not_a_vehicle"   # settings.NOT_A_VEHICLE (training/ ships without settings.py)


def routing_figures(model, photos_by_folder: dict, threshold: float) -> dict:
    """What the workflow would do with these labelled photos under this model (counts)."""
    figures = {"vehicles": 0, "correct": 0, "routed": 0, "routed_correct": 0, "unusable": 0,
               "others": 0, "others_routed": 0, "threshold": threshold}
    for folder, images in photos_by_folder.items():
        truth = model.class_names.index(folder) if folder in model.class_names else None
        for assessment in inference.assess(model, images):
            top = max(range(len(assessment.probabilities)), key=assessment.probabilities.__getitem__)
            routed = assessment.usable and assessment.probabilities[top] >= threshold
            if truth is None:
                figures["others"] += 1
                figures["others_routed"] += routed
                continue
            figures["vehicles"] += 1
            figures["correct"] += top == truth
            figures["routed"] += routed
            figures["routed_correct"] += routed and top == truth
            figures["unusable"] += not assessment.usable
    return figures


def shares(figures: dict) -> dict:
    """The headline shares of routing_figures (None where nothing was counted)."""
    def ratio(numerator, denominator):
        return figures[numerator] / figures[denominator] if figures[denominator] else None
    return {"accuracy": ratio("correct", "vehicles"), "coverage": ratio("routed", "vehicles"),
            "precision": ratio("routed_correct", "routed"), "unusable_share": ratio("unusable", "vehicles"),
            "others_routed_share": ratio("others_routed", "others")}
