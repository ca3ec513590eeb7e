"""Fixtures shared by every test directory."""
import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A real model directory written by train.py's own save code from a tiny untrained network.

    Its predictions are meaningless but have the real shape and format, so endpoint and workflow
    tests run the real inference.py in a few seconds instead of training for minutes.
    """
    import mxnet as mx

    import settings
    from training import train

    mx.random.seed(0)
    class_names = settings.CLASS_NAMES
    member = train.build_network(len(class_names), width=4, blocks_per_stage=1)
    member.initialize(mx.init.Xavier())
    serving_net = train.build_serving_network([member])
    model_dir = tmp_path_factory.mktemp("tiny_model")
    train.save(serving_net, class_names, temperature=1.5,
               metrics={"note": "untrained tiny network for tests"}, model_dir=model_dir)
    return model_dir
