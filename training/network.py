"""The classifier: an ImageNet-pretrained EfficientNet-Lite0 (training/efficientnet.py) whose top blocks
are fine-tuned for bicycle/motorcycle, beside its untouched ImageNet head, which says how much of a
photo's probability lands on two-wheeler classes (the "not a two-wheeler" gate, training/usability.py).

  raw pixels ─► stem + blocks[:tune_from]  (frozen, shared) ─┬─► tuned blocks[tune_from:] + head ─► Dense(classes)
     (and their mirror image: test-time flips)                └─► ImageNet blocks[tune_from:] + head + fc ─► softmax
                                                                    ─► summed probability of TWO_WHEELER_CLASSES

The serving graph answers (logits averaged over the photo and its mirror image, two-wheeler mass of
the photo). Every block has a fixed prefix, so a model directory's exported parameters load back into
the same structure: a challenger fine-tunes from its parent's weights (train.py --parent).

MXNet is imported on first use, so importing this module (or train.py) stays cheap. Shipped to
SageMaker with training/.
"""
import functools

try:
    from training import efficientnet
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import efficientnet

# What architecture.json names this structure (a parent of another network is not fine-tuned from).
NETWORK_NAME = "efficientnet-lite0"
# tune_from = BLOCK_COUNT tunes the 1x1 head conv and the classifier; HEAD_ONLY only the classifier.
HEAD_ONLY = efficientnet.BLOCK_COUNT + 1


@functools.lru_cache(maxsize=None)
def block_classes() -> dict:
    """The Gluon block classes, defined on first use so importing this module does not import MXNet."""
    from mxnet.gluon import nn
    parts = efficientnet.block_classes()

    class Tower(nn.HybridBlock):
        """Blocks tune_from.. and the head: the upper part of the backbone, pooled 1280 features out."""

        def __init__(self, tune_from, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.blocks = parts["blocks"](min(tune_from, efficientnet.BLOCK_COUNT), efficientnet.BLOCK_COUNT)
                self.head = parts["head"]()

        def hybrid_forward(self, F, x):
            return self.head(self.blocks(x))

    class VehicleNetwork(nn.HybridBlock):
        def __init__(self, num_classes, tune_from, two_wheeler_classes, **kwargs):
            super().__init__(**kwargs)
            shared_blocks = min(tune_from, efficientnet.BLOCK_COUNT)
            with self.name_scope():
                self.lower = nn.HybridSequential(prefix="lower_")
                with self.lower.name_scope():
                    self.lower.add(parts["stem"](), parts["blocks"](0, shared_blocks))
                self.imagenet = Tower(tune_from, prefix="imagenet_")
                self.imagenet_fc = nn.Dense(efficientnet.IMAGENET_CLASSES, prefix="imagenetfc_")
                # A head-only model has no tuned tower: its features are the ImageNet tower's.
                self.tuned = None if tune_from > efficientnet.BLOCK_COUNT else Tower(tune_from, prefix="tuned_")
                self.classifier = nn.Dense(num_classes, prefix="classifier_")
                self.two_wheeler_mask = self.params.get_constant(
                    "twowheelermask", [[1.0 if index in two_wheeler_classes else 0.0
                                        for index in range(efficientnet.IMAGENET_CLASSES)]])

        def features(self, low):
            """Pooled features the classifier reads, from the lower part's activations."""
            return (self.tuned or self.imagenet)(low)

        def upper(self, low):
            """Classifier logits from lower activations (what fine-tuning trains on cached activations)."""
            return self.classifier(self.features(low))

        def hybrid_forward(self, F, x, two_wheeler_mask):
            # The photos and their mirror images go through as one batch (faster than two), photos first.
            low = self.lower(F.concat(x, F.flip(x, axis=3), dim=0))
            imagenet_views = self.imagenet(low)
            tuned_views = imagenet_views if self.tuned is None else self.tuned(low)
            logits = self.classifier(self.mean_of_views(F, tuned_views, efficientnet.HEAD_CHANNELS))
            # The gate sees both views too: its probabilities are averaged like the classifier's features.
            imagenet_probabilities = F.softmax(self.imagenet_fc(imagenet_views), axis=1)
            mean_probabilities = self.mean_of_views(F, imagenet_probabilities, efficientnet.IMAGENET_CLASSES)
            two_wheeler_mass = F.sum(F.broadcast_mul(mean_probabilities, two_wheeler_mask), axis=1)
            return logits, two_wheeler_mass

        @staticmethod
        def mean_of_views(F, rows, width):
            """The mean of each photo's row and its mirror image's (the batch holds photos, then mirrors)."""
            return F.mean(F.reshape(rows, shape=(2, -1, width)), axis=0)

    return {"VehicleNetwork": VehicleNetwork}


def build_network(num_classes: int, tune_from: int, two_wheeler_classes):
    """The untrained structure (load_pretrained or load_exported fills it)."""
    if not 0 <= tune_from <= HEAD_ONLY:
        raise ValueError(f"tune_from must be between 0 and {HEAD_ONLY} (got {tune_from})")
    return block_classes()["VehicleNetwork"](num_classes, tune_from, set(two_wheeler_classes), prefix="vehicle_")


def settle_shapes(net) -> None:
    """One forward pass, so every parameter's deferred shape is known before weights are copied in."""
    import mxnet as mx
    side = efficientnet.INPUT_SIDE_MULTIPLE
    net(mx.nd.zeros((1, 3, side, side)))


def load_pretrained(net, imagenet_net, seed: int = 0) -> None:
    """Every backbone weight from the ImageNet network (both towers start from it); a fresh classifier."""
    import mxnet as mx
    mx.random.seed(seed)
    net.initialize(mx.init.Xavier())
    settle_shapes(net)
    source = {name[len(imagenet_net.prefix):]: param for name, param in imagenet_net.collect_params().items()}
    for name, param in net.collect_params().items():
        local = name[len(net.prefix):]
        if local.startswith("lower_"):
            key = local[len("lower_"):]
        elif local.startswith(("imagenet_", "tuned_")):
            key = local.split("_", 1)[1]
        elif local.startswith("imagenetfc_"):
            key = "fc_" + local[len("imagenetfc_"):]
        else:
            continue
        param.set_data(source[key].data())


def load_exported(net, params_file) -> None:
    """The weights of an exported model directory (arg:/aux: names) into the same structure."""
    import mxnet as mx
    saved = {name.split(":", 1)[1]: array for name, array in mx.nd.load(str(params_file)).items()}
    params = net.collect_params()
    missing = [name for name in params.keys() if name not in saved]
    if missing:
        raise ValueError(f"{params_file} does not fit this network: {len(missing)} parameters missing, "
                         f"e.g. {missing[0]}")
    net.initialize()
    settle_shapes(net)
    for name, param in params.items():
        param.set_data(saved[name])


def trainable_parameters(net):
    """The tuned tower and the classifier; everything else keeps its ImageNet weights."""
    selected = net.classifier.collect_params()
    if net.tuned is not None:
        selected.update(net.tuned.collect_params())
    return selected
