"""The classifier's networks: a small residual CNN, the flip-averaged ensemble of its members, and the
serving graph that also computes the feature distance to the training photos (training/usability.py).

MXNet is imported on first use, so importing this module (or train.py) stays cheap. Shipped to
SageMaker with training/.
"""
try:
    from training import model_artifacts
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import model_artifacts

def _gluon():
    from mxnet.gluon import nn
    return nn


class _Blocks:
    """Block classes, defined on first use so importing train.py does not import MXNet."""
    _cache = None

    @classmethod
    def get(cls):
        if cls._cache is None:
            cls._cache = _define_blocks()
        return cls._cache


def _define_blocks():
    nn = _gluon()

    class ScalePixels(nn.HybridBlock):
        """0..255 pixels -> roughly -1..1, inside the graph so serving sends raw pixels."""

        def hybrid_forward(self, F, x):
            return x / 127.5 - 1.0

    class ResidualBlock(nn.HybridBlock):
        def __init__(self, channels, stride, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.body = nn.HybridSequential()
                self.body.add(nn.Conv2D(channels, 3, stride, 1, use_bias=False), nn.BatchNorm(),
                              nn.Activation("relu"), nn.Conv2D(channels, 3, 1, 1, use_bias=False),
                              nn.BatchNorm())
                self.shortcut = None
                if stride != 1:
                    self.shortcut = nn.HybridSequential()
                    self.shortcut.add(nn.Conv2D(channels, 1, stride, use_bias=False), nn.BatchNorm())

        def hybrid_forward(self, F, x):
            residual = x if self.shortcut is None else self.shortcut(x)
            return F.relu(self.body(x) + residual)

    class FlipAveragedEnsemble(nn.HybridBlock):
        """(logits, features) of the members over the image and its mirror image (test-time flips).

        Each member's penultimate features are averaged over both views and its logits follow from
        them (the head is affine, so this equals averaging the views' logits); the ensemble's logits
        are the members' mean, its features the members' side by side (their spaces differ).
        """

        def __init__(self, members, **kwargs):
            super().__init__(**kwargs)
            self.bodies, self.heads = [], []
            for index, member in enumerate(members):
                body, head = member[:-1], member[-1]
                self.register_child(body, f"body{index}")
                self.register_child(head, f"head{index}")
                self.bodies.append(body)
                self.heads.append(head)

        def hybrid_forward(self, F, x):
            mirrored = F.flip(x, axis=3)
            logits, features = [], []
            for body, head in zip(self.bodies, self.heads):
                averaged = (body(x) + body(mirrored)) / 2
                features.append(averaged)
                logits.append(head(averaged))
            mean_logits = F.add_n(*logits) / len(logits) if len(logits) > 1 else logits[0]
            return mean_logits, (F.concat(*features, dim=1) if len(features) > 1 else features[0])

    class FeatureDistance(nn.HybridBlock):
        """Squared Mahalanobis distance of features to the nearest class mean (usability.py fits it)."""

        def __init__(self, num_classes, dimension, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.means = self.params.get("means", shape=(num_classes, dimension), init="zeros",
                                             grad_req="null")
                self.whitening = self.params.get("whitening", shape=(dimension, dimension), init="zeros",
                                                 grad_req="null")

        def hybrid_forward(self, F, features, means, whitening):
            difference = F.broadcast_sub(F.expand_dims(features, axis=1), F.expand_dims(means, axis=0))
            return F.min(F.sum(F.square(F.dot(difference, whitening)), axis=2), axis=1)

    class ServingNetwork(nn.HybridBlock):
        """What is exported: raw pixels in, (logits, feature distance) out."""

        def __init__(self, ensemble, distance, **kwargs):
            super().__init__(**kwargs)
            self.ensemble = ensemble
            self.distance = distance

        def hybrid_forward(self, F, x):
            logits, features = self.ensemble(x)
            return logits, self.distance(features)

    return {"ScalePixels": ScalePixels, "ResidualBlock": ResidualBlock,
            "FlipAveragedEnsemble": FlipAveragedEnsemble, "FeatureDistance": FeatureDistance,
            "ServingNetwork": ServingNetwork}


def build_network(num_classes: int, width: int = 32, blocks_per_stage: int = 2):
    """A small pre-pooling ResNet for 32x32 images: 3 stages of width, 2x and 4x channels."""
    nn = _gluon()
    blocks = _Blocks.get()
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(blocks["ScalePixels"](), nn.Conv2D(width, 3, 1, 1, use_bias=False), nn.BatchNorm(),
                nn.Activation("relu"))
        for stage in range(3):
            for block in range(blocks_per_stage):
                downsample = stage > 0 and block == 0
                net.add(blocks["ResidualBlock"](width * 2 ** stage, 2 if downsample else 1))
        net.add(nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(num_classes))
    return net


def build_ensemble(members):
    """Flip-averaged (logits, penultimate features) of the members."""
    return _Blocks.get()["FlipAveragedEnsemble"](members)


def build_serving_network(ensemble, num_classes: int, means=None, whitening=None):
    """The graph that is exported: (logits, feature distance) of the ensemble. Without means and
    whitening (tests), the distance is that of an untrained zero distribution."""
    import mxnet as mx
    blocks = _Blocks.get()
    dimension = (means.shape[1] if means is not None
                 else ensemble(mx.nd.zeros((1, 3, model_artifacts.INPUT_SIZE, model_artifacts.INPUT_SIZE)))[1].shape[1])
    distance = blocks["FeatureDistance"](num_classes, dimension)
    distance.initialize()
    if means is not None:
        distance.means.set_data(mx.nd.array(means))
        distance.whitening.set_data(mx.nd.array(whitening))
    return blocks["ServingNetwork"](ensemble, distance)


