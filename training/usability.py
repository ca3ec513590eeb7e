"""Is a picture a usable photo of a vehicle? Reasons it is not, for the endpoint to answer with.

Two signals, each catching what the other misses (measured by bench/unusable_images.py):
  image statistics  of the model's 32x32 input: too small, nearly uniform (blank, dark, blown out,
                    and noise, which a shrink to 32x32 averages to a flat grey), too dark or too
                    bright, pixels unlike their neighbours (noise kept at small sizes), too few
                    colours (text, drawings, test patterns); fixed limits, none of which rejects
                    any of the 1000 CIFAR-100 training photos (their 0.1% quantiles are quoted
                    beside each limit)
  feature distance  how far the model's own penultimate features lie from those of the training
                    photos (Mahalanobis distance to the nearest class mean, shared covariance),
                    computed inside the exported graph; its limit is fitted per model on the
                    validation split (training/train.py) and kept in usability.json
Softmax confidence is no such signal: an all-black picture gets 0.99 "bicycle".

Shipped to the SageMaker container with training/: numpy and the standard library only.
"""
import math
import statistics

import numpy as np

try:
    from training import model_artifacts
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import model_artifacts

MIN_SIDE = model_artifacts.INPUT_SIZE
MIN_CONTRAST = 10.0                # luminance standard deviation; training photos: >= 16.6 (0.1% quantile)
MIN_BRIGHTNESS = 18.0              # mean luminance; training photos: >= 27.6
MAX_BRIGHTNESS = 240.0             # training photos: <= 223.6 (99.9% quantile)
MIN_NEIGHBOUR_CORRELATION = 0.35   # of horizontally and vertically adjacent pixels; training photos: >= 0.56
MIN_COLOURS = 5                    # distinct colours with 8 levels per channel; training photos: >= 6
# The distance limit's target: the share of photos like the validation ones it would call unusable.
DEFAULT_FALSE_UNUSABLE_RATE = 0.005
_LUMA = np.array([0.299, 0.587, 0.114])


class Reason(str):
    """A reason a picture is unusable: the sentence a person reads, with a stable code beside it
    (what the endpoint reports as unusable_codes and the monitor counts)."""

    code: str

    def __new__(cls, code: str, text: str) -> "Reason":
        reason = super().__new__(cls, text)
        reason.code = code
        return reason


# The codes, in the order image_reasons and distance_reason check them.
REASON_CODES = ("too_small", "nearly_uniform", "too_dark", "blown_out", "noise", "few_colours", "unfamiliar")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 0 else 1.0


def image_statistics(pixels: np.ndarray) -> dict:
    """Statistics of an H x W x 3 uint8 image (the model's input).

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


def distance_reason(distance: float, limit: float) -> list:
    """The feature-distance reason, or [] when the picture is close enough to the training photos."""
    if math.isfinite(distance) and distance <= limit:
        return []
    return [Reason("unfamiliar", f"unlike the training photos of bicycles and motorcycles (feature distance "
                                 f"{distance:.0f} > {limit:.0f})")]


# --- fitting the feature distance (training/train.py) ---------------------------------------------

def fit_feature_distribution(features: np.ndarray, labels: np.ndarray, num_classes: int, shrinkage: float = 0.1):
    """(class means C x D, whitening D x D) of class-conditional Gaussians with one shared covariance.

    The covariance is shrunk towards its mean variance (a few hundred photos per class do not
    determine a D x D matrix); ||(f - mean) @ whitening||^2 is the Mahalanobis distance.
    """
    features = np.asarray(features, dtype=np.float64)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(num_classes)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    dimension = covariance.shape[0]
    covariance = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / dimension * np.eye(dimension)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    whitening = eigenvectors / np.sqrt(np.maximum(eigenvalues, 1e-12))
    return means.astype(np.float32), whitening.astype(np.float32)


def mahalanobis_distances(features: np.ndarray, means: np.ndarray, whitening: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each row to the nearest class mean (what the graph computes)."""
    projected = (np.asarray(features, dtype=np.float64)[:, None, :] - means[None]) @ whitening
    return (projected ** 2).sum(axis=2).min(axis=1)


def distance_limit(validation_distances: np.ndarray, false_unusable_rate: float = DEFAULT_FALSE_UNUSABLE_RATE) -> float:
    """The distance above which a photo counts as unusable: the (1 - rate) quantile of a log-normal
    fitted to the validation photos' distances, smoother than their few largest values."""
    logs = np.log(np.maximum(np.asarray(validation_distances, dtype=np.float64), 1e-12))
    z = statistics.NormalDist().inv_cdf(1.0 - false_unusable_rate)
    return float(math.exp(logs.mean() + z * logs.std(ddof=1)))
