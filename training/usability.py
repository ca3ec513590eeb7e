"""Is a picture a usable photo of a two-wheeler? Reasons it is not, for the endpoint to answer with.

Two signals, each catching what the other misses (measured by bench/unusable_images.py):
  image statistics  of a 32x32 reduction of the model's input: too small, nearly uniform (blank,
                    dark, blown out, and noise, which a shrink to 32x32 averages to a flat grey), too
                    dark or too bright, pixels unlike their neighbours (noise kept at small sizes), too
                    few colours (text, drawings, test patterns); fixed limits, none of which rejects
                    any of the 1000 CIFAR-100 training photos (their 0.1% quantiles are quoted beside
                    each limit). The reduction keeps those limits, set on 32x32 thumbnails, valid
                    whatever the network's input size.
  two-wheeler mass  the backbone's own, untouched ImageNet head: its probability summed over the
                    two-wheeler classes (training/pretrained.TWO_WHEELER_CLASSES), averaged over the
                    photo and its mirror image. A car, a person or a street gets almost none. The
                    limit was set before looking and checked on the first collection of real photos
                    only (docs/model-card.md); it cannot be fitted on CIFAR thumbnails, which
                    upsampled get little mass.
Softmax confidence is no such signal: a car gets 0.99 "motorcycle" as easily as a motorcycle does.

Shipped to the SageMaker container with training/: numpy, Pillow and the standard library only.
"""
import math

import numpy as np
from PIL import Image

try:
    from training import model_artifacts
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import model_artifacts

# Statistics are computed on the model's input reduced to this side (the CIFAR thumbnails' own).
STATISTICS_SIDE = 32
MIN_SIDE = STATISTICS_SIDE
MIN_CONTRAST = 10.0                # luminance standard deviation; training photos: >= 16.6 (0.1% quantile)
MIN_BRIGHTNESS = 18.0              # mean luminance; training photos: >= 27.6
MAX_BRIGHTNESS = 240.0             # training photos: <= 223.6 (99.9% quantile)
MIN_NEIGHBOUR_CORRELATION = 0.35   # of horizontally and vertically adjacent pixels; training photos: >= 0.56
MIN_COLOURS = 5                    # distinct colours with 8 levels per channel; training photos: >= 6
# Below this two-wheeler mass the ImageNet head does not see a two-wheeler: one half (more of the
# head's belief on two-wheelers than on everything else), set before any photo was looked at and
# checked on the first collection of real photos only (docs/model-card.md): at the 160-px input its
# two cars, street and kick scooter get at most 0.12, its 58 bicycles and motorcycles at least 0.59.
DEFAULT_TWO_WHEELER_LIMIT = 0.5
_LUMA = np.array([0.299, 0.587, 0.114])


class Reason(str):
    """A reason a picture is unusable: the sentence a person reads, with a stable code beside it
    (what the endpoint reports as unusable_codes and the monitor counts)."""

    code: str

    def __new__(cls, code: str, text: str) -> "Reason":
        reason = super().__new__(cls, text)
        reason.code = code
        return reason


# The codes, in the order image_reasons and two_wheeler_reason check them.
REASON_CODES = ("too_small", "nearly_uniform", "too_dark", "blown_out", "noise", "few_colours", "not_two_wheeler")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 0 else 1.0


def statistics_pixels(model_image: Image.Image) -> np.ndarray:
    """The 32x32 uint8 pixels the statistics are computed on, from the model's input image."""
    if model_image.size != (STATISTICS_SIDE, STATISTICS_SIDE):
        model_image = model_image.resize((STATISTICS_SIDE, STATISTICS_SIDE), model_artifacts.RESAMPLING)
    return np.asarray(model_image, dtype=np.uint8)


def image_statistics(pixels: np.ndarray) -> dict:
    """Statistics of an H x W x 3 uint8 image (statistics_pixels of the model's input).

    brightness and contrast are the mean and standard deviation of the luminance; sharpness is the
    standard deviation of its 4-neighbour Laplacian (blur lowers it, noise raises it);
    colourfulness is Hasler and Suesstrunk's (0 for grey, about 100 for a very colourful picture).
    """
    rgb = np.asarray(pixels, dtype=np.float64)
    luma = rgb @ _LUMA
    quantised = (np.asarray(pixels) // 32).reshape(-1, 3).astype(np.int64)
    laplacian = (luma[1:-1, :-2] + luma[1:-1, 2:] + luma[:-2, 1:-1] + luma[2:, 1:-1] - 4 * luma[1:-1, 1:-1])
    red_green = rgb[..., 0] - rgb[..., 1]
    yellow_blue = (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "sharpness": float(laplacian.std()) if laplacian.size else 0.0,
        "colourfulness": float(math.hypot(red_green.std(), yellow_blue.std())
                               + 0.3 * math.hypot(red_green.mean(), yellow_blue.mean())),
        "neighbour_correlation": min(_correlation(luma[:, 1:], luma[:, :-1]), _correlation(luma[1:], luma[:-1])),
        "colours": int(np.unique(quantised[:, 0] * 64 + quantised[:, 1] * 8 + quantised[:, 2]).size),
    }


def image_reasons(pixels: np.ndarray, original_size, stats: dict = None) -> list:
    """Why the picture is not a usable vehicle photo, judged on its pixels alone ([] if usable), as
    Reasons; stats, when the caller has them, are image_statistics(pixels)."""
    width, height = original_size
    if min(width, height) < MIN_SIDE:
        return [Reason("too_small", f"smaller than the model's {MIN_SIDE}x{MIN_SIDE} input ({width}x{height} pixels)")]
    stats = stats if stats is not None else image_statistics(pixels)
    reasons = []
    if stats["contrast"] < MIN_CONTRAST:
        reasons.append(Reason("nearly_uniform", f"nearly uniform: blank, fogged, very dark, blown out or noise (contrast "
                       f"{stats['contrast']:.1f} < {MIN_CONTRAST:g})"))
    if stats["brightness"] < MIN_BRIGHTNESS:
        reasons.append(Reason("too_dark", f"too dark (brightness {stats['brightness']:.0f} < {MIN_BRIGHTNESS:g} of 255)"))
    elif stats["brightness"] > MAX_BRIGHTNESS:
        reasons.append(Reason("blown_out", f"blown out (brightness {stats['brightness']:.0f} > {MAX_BRIGHTNESS:g} of 255)"))
    if stats["neighbour_correlation"] < MIN_NEIGHBOUR_CORRELATION:
        reasons.append(Reason("noise", f"neighbouring pixels unrelated, as in noise or a fine pattern (correlation "
                       f"{stats['neighbour_correlation']:.2f} < {MIN_NEIGHBOUR_CORRELATION:g})"))
    if stats["colours"] < MIN_COLOURS:
        reasons.append(Reason("few_colours", f"too few colours for a photo: text, a drawing or a test pattern "
                       f"({stats['colours']} < {MIN_COLOURS})"))
    return reasons


def two_wheeler_reason(mass: float, limit: float) -> list:
    """The not-a-two-wheeler reason, or [] when the ImageNet head puts enough probability on two-wheelers."""
    if math.isfinite(mass) and mass >= limit:
        return []
    return [Reason("not_two_wheeler", f"not a bicycle or motorcycle to the backbone's ImageNet head (two-wheeler "
                                      f"probability {mass:.2f} < {limit:.2f})")]
