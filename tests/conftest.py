"""Fixtures shared by every test directory."""
import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A real model directory written by train.py's own save code from a tiny untrained network.

    Its predictions are meaningless but have the real shape and format, so endpoint and workflow
    tests run the real inference.py in a few seconds instead of training for minutes.
    """
    import mxnet as mx
    import numpy as np

    import settings
    from training import train

    mx.random.seed(0)
    class_names = settings.CLASS_NAMES
    member = train.build_network(len(class_names), width=4, blocks_per_stage=1)
    member.initialize(mx.init.Xavier())
    ensemble = train.build_ensemble([member])
    dimension = ensemble(mx.nd.zeros((1, 3, 32, 32)))[1].shape[1]
    # Distances are squared feature norms, all far below the limit 1e9: pictures are judged by
    # their image statistics alone, which tests control.
    serving_net = train.build_serving_network(ensemble, len(class_names), np.zeros((len(class_names), dimension)),
                                              np.eye(dimension))
    model_dir = tmp_path_factory.mktemp("tiny_model")
    train.save(serving_net, class_names, temperature=1.5, usability_document={"feature_distance_limit": 1e9},
               metrics={"note": "untrained tiny network for tests"}, model_dir=model_dir)
    return model_dir
