"""Training-time image augmentation on uint8 NHWC batches (the network's 32x32 RGB input).

Two stages, applied in this order by train.py:
  trivial_augment  one photometric or geometric operation per image, drawn at random with a
                   random magnitude (TrivialAugment, Müller & Hutter 2021, "wide" ranges scaled
                   to 32x32 images); teaches the network what a photo may look like under other
                   light, contrast, framing and sharpness
  crop_flip_cutout random 4-px-padded crops, horizontal flips and cutout

Runs in the SageMaker MXNet container (Python 3.8, its own Pillow) as well as here, so it uses
only numpy and Pillow APIs that Pillow 8 already had.
"""
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

# Magnitudes are drawn from this many evenly spaced steps in [0, 1], as TrivialAugment does.
MAGNITUDE_STEPS = 31
MAX_SHEAR = 0.3
MAX_TRANSLATE_PIXELS = 10
MAX_ROTATE_DEGREES = 30.0
MAX_ENHANCE_DELTA = 0.9          # brightness/colour/contrast/sharpness factor in 1 ± 0.9·magnitude
MIN_POSTERIZE_BITS = 4
# Grey fill for pixels that geometric operations bring in, as cutout uses.
FILL = (127, 127, 127)
_AFFINE = getattr(Image, "Transform", Image).AFFINE
_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR


def _signed(magnitude: float, rng) -> float:
    return magnitude if rng.rand() < 0.5 else -magnitude


def _affine(image, coefficients):
    return image.transform(image.size, _AFFINE, coefficients, resample=_BILINEAR, fillcolor=FILL)


def _identity(image, magnitude, rng):
    return image


def _shear_x(image, magnitude, rng):
    return _affine(image, (1, _signed(MAX_SHEAR * magnitude, rng), 0, 0, 1, 0))


def _shear_y(image, magnitude, rng):
    return _affine(image, (1, 0, 0, _signed(MAX_SHEAR * magnitude, rng), 1, 0))


def _translate_x(image, magnitude, rng):
    return _affine(image, (1, 0, _signed(MAX_TRANSLATE_PIXELS * magnitude, rng), 0, 1, 0))


def _translate_y(image, magnitude, rng):
    return _affine(image, (1, 0, 0, 0, 1, _signed(MAX_TRANSLATE_PIXELS * magnitude, rng)))


def _rotate(image, magnitude, rng):
    return image.rotate(_signed(MAX_ROTATE_DEGREES * magnitude, rng), resample=_BILINEAR, fillcolor=FILL)


def _enhancer(kind):
    def apply(image, magnitude, rng):
        return kind(image).enhance(1.0 + _signed(MAX_ENHANCE_DELTA * magnitude, rng))
    return apply


def _posterize(image, magnitude, rng):
    return ImageOps.posterize(image, 8 - int(round((8 - MIN_POSTERIZE_BITS) * magnitude)))


def _solarize(image, magnitude, rng):
    return ImageOps.solarize(image, int(round(256 * (1.0 - magnitude))))  # 256: nothing inverted


def _autocontrast(image, magnitude, rng):
    return ImageOps.autocontrast(image)


def _equalize(image, magnitude, rng):
    return ImageOps.equalize(image)


OPERATIONS = {
    "identity": _identity,
    "shear_x": _shear_x,
    "shear_y": _shear_y,
    "translate_x": _translate_x,
    "translate_y": _translate_y,
    "rotate": _rotate,
    "brightness": _enhancer(ImageEnhance.Brightness),
    "color": _enhancer(ImageEnhance.Color),
    "contrast": _enhancer(ImageEnhance.Contrast),
    "sharpness": _enhancer(ImageEnhance.Sharpness),
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
}
POLICIES = ("none", "trivial")


def trivial_augment(pixels, rng):
    """One randomly chosen operation at a random magnitude per image of a uint8 NHWC batch."""
    operations = list(OPERATIONS.values())
    out = np.empty_like(pixels)
    for i in range(len(pixels)):
        operation = operations[rng.randint(len(operations))]
        magnitude = rng.randint(MAGNITUDE_STEPS) / (MAGNITUDE_STEPS - 1)
        out[i] = np.asarray(operation(Image.fromarray(pixels[i]), magnitude, rng), dtype=np.uint8)
    return out


def crop_flip_cutout(pixels, rng, cutout: int):
    """Random 4-px-padded crops, horizontal flips and cutout on a uint8 NHWC batch."""
    n, h, w, _ = pixels.shape
    padded = np.pad(pixels, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    out = np.empty_like(pixels)
    dy, dx = rng.randint(0, 9, n), rng.randint(0, 9, n)
    flips = rng.rand(n) < 0.5
    for i in range(n):
        crop = padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop[:, ::-1] if flips[i] else crop
    if cutout:
        cy, cx = rng.randint(0, h, n), rng.randint(0, w, n)
        half = cutout // 2
        for i in range(n):
            out[i, max(0, cy[i] - half):cy[i] + half, max(0, cx[i] - half):cx[i] + half] = FILL[0]
    return out


def augment(pixels, rng, cutout: int, policy: str = "none"):
    """The whole training augmentation of one batch: the policy's operations, then crop/flip/cutout."""
    if policy not in POLICIES:
        raise ValueError(f"unknown augmentation policy {policy!r}; choose one of {POLICIES}")
    if policy == "trivial":
        pixels = trivial_augment(pixels, rng)
    return crop_flip_cutout(pixels, rng, cutout)
