"""Drivers' photos, decoded and normalised one way, wherever an image is read.

The Serialize Image Lambda (handlers/serialize_image.py) and the model's endpoint
(training/inference.py) both decode through this module, so a photo sent through the workflow
and the same photo sent to the endpoint directly reach the model as the same pixels:

  accepted    JPEG (baseline, progressive, and the MPO variant phones write), PNG (8 or 16 bits,
              grey, palette, alpha) and WebP, recognised by their content, never by file name;
              anything else is NotAnImage, naming what it found
  limits      bytes of the original (ImageTooLarge) and pixels (ImageTooManyPixels, the
              decompression-bomb guard), checked before anything is decoded
  decoding    large JPEGs at a reduced scale by the decoder itself (draft mode: 1/2, 1/4 or 1/8),
              then EXIF orientation applied, 8-bit RGB (16-bit scaled, not clipped; alpha
              composited on neutral grey), longest side at most max_side

It ships in the Lambda package and, as an estimator dependency, in the SageMaker container, which
runs Python 3.8 with Pillow 10.4: so only the standard library and Pillow >= 10.4 are used here.
"""
import io
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

from PIL import Image, UnidentifiedImageError

# Pillow's format names accepted, with the media type each is sent as.
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
ACCEPTED_DESCRIPTION = "JPEG, PNG or WebP"
# The Pillow plugins that may open a photo (its JPEG plugin also opens MPO files).
_OPENERS = ("JPEG", "PNG", "WEBP")
DEFAULT_MAX_BYTES = 25_000_000
# 64 MP admits the 48-50 MP photos of current phones' full-resolution modes; a PNG that claims more
# is refused before a byte of it is decoded (a 100,000 x 100,000 bomb fits in a few KB).
DEFAULT_MAX_MEGAPIXELS = 64
# The model sees 32x32; a reviewer recognises a vehicle at a few hundred pixels. 384 px keeps a
# photo's JPEG at 20-60 KB, far inside the 256 KB Step Functions payload.
DEFAULT_MAX_SIDE = 384
# The normalised image never exceeds this many bytes (so base64 never exceeds ~87 KB): JPEG quality,
# then size, step down until it fits.
MAX_ENCODED_BYTES = 64 * 1024
JPEG_QUALITIES = (90, 80, 70, 60)
NEUTRAL_BACKGROUND = (128, 128, 128)
EXIF_ORIENTATION_TAG = 0x0112
# Large JPEGs decode at the smallest scale (1/2, 1/4, 1/8) still at least this many times the
# target: the decoder's DCT scaling already averages the pixels it drops (1/8 of a 12 MP photo,
# 504x378, decodes in about 50 ms where 1/4 takes 65 and the whole photo several hundred).
DRAFT_MARGIN = 1
_LANCZOS = getattr(Image, "Resampling", Image).LANCZOS
# The transposition that makes a photo stored with each EXIF orientation upright (as
# ImageOps.exif_transpose does, applied here to the small image instead of the decoded original).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
# First bytes of formats people send that are not accepted, to name them in the error.
_OTHER_SIGNATURES = (
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"), (b"\x00\x00\x01\x00", "ICO"), (b"8BPS", "Photoshop PSD"), (b"PK\x03\x04", "ZIP"),
    (b"<?xml", "XML (SVG?)"), (b"<svg", "SVG"), (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
_ISO_MEDIA_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
                     b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF",
                     b"qt  ": "QuickTime video", b"isom": "MP4 video", b"mp42": "MP4 video"}


class PhotoRejected(ValueError):
    """The bytes cannot become a photo for the model; the message says why, for a person."""


class NotAnImage(PhotoRejected):
    """Not a JPEG, PNG or WebP image, or one whose data is truncated or corrupt."""


class ImageTooLarge(PhotoRejected):
    """The original has more bytes than accepted."""


class ImageTooManyPixels(PhotoRejected):
    """The image declares more pixels than accepted (decompression-bomb guard)."""


@dataclass(frozen=True)
class Original:
    """What the photo was before normalisation, kept so a reviewer and monitoring can trace it."""
    format: str           # Pillow's name: JPEG, MPO, PNG, WEBP
    width: int            # as displayed, i.e. after the EXIF orientation
    height: int
    orientation: int      # the EXIF Orientation tag, 1 (as stored) when absent
    bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def check_byte_size(size: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Refuse an original larger than max_bytes (called before downloading it)."""
    if size > max_bytes:
        raise ImageTooLarge(f"the photo has {size} bytes ({megabytes(size)}); at most {max_bytes} bytes "
                            f"({megabytes(max_bytes)}) are accepted")


def describe_format(data: bytes) -> str:
    """A name for bytes that are not an accepted image, from their first bytes."""
    if not data:
        return "an empty file"
    if data[4:8] == b"ftyp":
        return _ISO_MEDIA_BRANDS.get(data[8:12], f"an ISO media file (brand {data[8:12]!r})")
    for signature, name in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return name
    return f"an unknown format (first bytes {data[:8]!r})"


def _accepted_signature(data: bytes) -> Optional[str]:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def open_photo(data: bytes, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Image.Image:
    """Open (headers only, nothing decoded yet) an accepted image within the pixel limit."""
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except Image.DecompressionBombError as error:
        raise ImageTooManyPixels(f"the image declares more pixels than Pillow will open ({error}); at most "
                                 f"{max_megapixels:g} megapixels are accepted") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        claimed = _accepted_signature(data)
        if claimed:
            raise NotAnImage(f"the {claimed} image is truncated or corrupt ({len(data)} bytes)") from error
        raise NotAnImage(f"the file is {describe_format(data)}, not a {ACCEPTED_DESCRIPTION} image "
                         f"({len(data)} bytes)") from error
    width, height = image.size
    if width * height > max_megapixels * 1_000_000:
        image.close()
        raise ImageTooManyPixels(
            f"the image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); at most "
            f"{max_megapixels:g} megapixels are accepted")
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not cost the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _fitting_size(size: Tuple[int, int], max_side: int) -> Tuple[int, int]:
    width, height = size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resizable(image: Image.Image) -> Image.Image:
    """The image in a mode Pillow resizes with LANCZOS everywhere (Pillow 10.4 cannot resize
    16-bit modes; palette and 1-bit images would fall back to nearest-neighbour)."""
    if image.mode.startswith("I;16"):
        return image.convert("I")
    if image.mode in ("P", "PA", "1"):
        return image.convert("RGBA" if _has_alpha(image) else "RGB")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode Pillow decodes the accepted formats to."""
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey: scale to 8 bits; convert("L") alone would clip everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, NEUTRAL_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def decode(data: bytes, max_side: int = DEFAULT_MAX_SIDE,
           max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Tuple[Image.Image, Original]:
    """The photo as an upright 8-bit RGB image whose longest side is at most max_side, and what the
    original was. Raises NotAnImage or ImageTooManyPixels.

    Memory stays near the decoded original's size: JPEGs decode at reduced scale, and every other
    step (colour conversion, alpha, orientation) runs on the shrunken image.
    """
    with open_photo(data, max_megapixels) as image:
        original_format, orientation = image.format, _orientation(image)
        stored_size = image.size
        if image.format in ("JPEG", "MPO") and max(stored_size) > max_side * DRAFT_MARGIN:
            image.draft(None, _fitting_size(stored_size, max_side * DRAFT_MARGIN))
        try:
            image.load()
            small = _resizable(image)
            if max(small.size) > max_side:
                small = small.resize(_fitting_size(small.size, max_side), _LANCZOS, reducing_gap=3.0)
            rgb = to_rgb(small)
        except (OSError, SyntaxError, ValueError) as error:
            raise NotAnImage(f"the {original_format} image is truncated or corrupt ({error})") from error
    if orientation != 1:
        rgb = rgb.transpose(_UPRIGHT[orientation])
    width, height = stored_size if orientation < 5 else stored_size[::-1]
    return rgb, Original(format=original_format, width=width, height=height, orientation=orientation,
                         bytes=len(data))


def encode(image: Image.Image, max_bytes: int = MAX_ENCODED_BYTES) -> Tuple[bytes, str]:
    """(bytes, media type) of an RGB image within max_bytes: lossless PNG when it fits (small
    images stay pixel-exact), else JPEG at the highest quality, then the largest size, that fits."""
    # A photo's PNG takes about half its raw size: only an image whose raw pixels are at most twice
    # the budget can fit, so larger ones skip the attempt (it costs as much as the JPEG).
    if image.width * image.height * 3 <= 2 * max_bytes:
        png = _save(image, "PNG", optimize=False)
        if len(png) <= max_bytes:
            return png, ACCEPTED_FORMATS["PNG"]
    while True:
        for quality in JPEG_QUALITIES:
            jpeg = _save(image, "JPEG", quality=quality)
            if len(jpeg) <= max_bytes:
                return jpeg, ACCEPTED_FORMATS["JPEG"]
        image = image.resize(_fitting_size(image.size, max(1, int(max(image.size) * 0.75))), _LANCZOS)


def _save(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def normalize(data: bytes, max_side: int = DEFAULT_MAX_SIDE, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
              max_encoded_bytes: int = MAX_ENCODED_BYTES) -> Tuple[bytes, str, Original]:
    """(image bytes, media type, original) of a photo ready for the model and a reviewer.

    A JPEG or PNG that is already upright RGB, small enough in pixels and bytes passes through
    byte for byte, so re-encoding never changes what the model sees of it.
    """
    image, original = decode(data, max_side, max_megapixels)
    if _already_normal(data, original, max_side, max_encoded_bytes):
        return data, ACCEPTED_FORMATS[original.format], original
    encoded, media_type = encode(image, max_encoded_bytes)
    return encoded, media_type, original


def _already_normal(data: bytes, original: Original, max_side: int, max_encoded_bytes: int) -> bool:
    if original.format not in ("JPEG", "PNG") or original.orientation != 1 or len(data) > max_encoded_bytes:
        return False
    if max(original.width, original.height) > max_side:
        return False
    with Image.open(io.BytesIO(data)) as image:
        return image.mode == "RGB" and "transparency" not in image.info

