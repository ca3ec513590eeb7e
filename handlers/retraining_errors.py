"""The retraining pipeline's named errors (statemachine/retrain_model.asl.json catches them by name)."""


class NotEnoughNewLabels(Exception):
    """The review loop has not labelled enough new photos since the base data to be worth a run."""


class ChallengerNotEvaluated(Exception):
    """The training job's model.tar.gz holds no evaluation of the challenger against its parent."""
