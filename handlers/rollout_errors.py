"""The rollout state machines' named errors (statemachine/promote_challenger.asl.json catches them by name)."""


class NothingToCompare(Exception):
    """No captured inference was answered by both the champion and the shadow yet."""


class TrainingManifestMissing(Exception):
    """The shadow's dataset manifest, named by its tags, is gone: its training photos cannot be left out."""
