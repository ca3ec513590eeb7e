"""Photos made the way phones and other programs make them: the tests and the benchmarks share them.

Each picture has a recognisable layout (a red block in its top-left quarter on a blue-green
background, a yellow bar at the bottom) so a test can tell upright from rotated or mirrored.
"""
import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from imaging import photo

# Pillow's own transposition for each EXIF orientation, as ImageOps.exif_transpose applies it.
UPRIGHT = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
           7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
# Its inverse: how a camera stores an upright scene under each orientation tag.
STORED = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
          7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def scene(width: int = 400, height: int = 300, noise: float = 0.0, seed: int = 0) -> Image.Image:
    """An upright RGB picture with a layout that shows its orientation; optional sensor noise."""
    image = Image.new("RGB", (width, height), (30, 140, 150))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width // 2 - 1, height // 2 - 1], fill=(220, 30, 30))
    draw.rectangle([0, height * 7 // 8, width - 1, height - 1], fill=(240, 220, 40))
    if noise:
        pixels = np.asarray(image, dtype=np.float32)
        pixels += np.random.RandomState(seed).normal(0, noise, pixels.shape)
        image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    return image


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def with_orientation(image: Image.Image, orientation: int, image_format: str = "JPEG") -> bytes:
    """The upright image stored as a camera stores it under this EXIF orientation tag."""
    stored = image.transpose(STORED[orientation]) if STORED[orientation] is not None else image
    exif = Image.Exif()
    exif[photo.EXIF_ORIENTATION_TAG] = orientation
    return encoded(stored, image_format, exif=exif.tobytes(), **({"quality": 95} if image_format == "JPEG" else {}))


def phone_jpeg(width: int = 4032, height: int = 3024, orientation: int = 1, noise: float = 12.0) -> bytes:
    """A phone-sized JPEG with sensor noise (about 3-10 MB at quality 92)."""
    upright_width, upright_height = (width, height) if orientation < 5 else (height, width)
    return with_orientation(scene(upright_width, upright_height, noise=noise), orientation)


# How the benchmarks send a 32x32 test picture as a camera app would: upscaled, then JPEG.
CAMERA_JPEG_SIDE = 224
CAMERA_JPEG_QUALITY = 90


def camera_jpeg(image: Image.Image) -> bytes:
    """The picture upscaled to CAMERA_JPEG_SIDE square (bicubic) and saved as a JPEG."""
    square = image.convert("RGB").resize((CAMERA_JPEG_SIDE, CAMERA_JPEG_SIDE), Image.Resampling.BICUBIC)
    return encoded(square, "JPEG", quality=CAMERA_JPEG_QUALITY)


def sixteen_bit_png(width: int = 64, height: int = 48) -> bytes:
    """A 16-bit greyscale PNG: a horizontal ramp from 0 to 65535."""
    ramp = np.tile(np.linspace(0, 65535, width).astype(np.uint16), (height, 1))
    return encoded(Image.fromarray(ramp), "PNG")


def cmyk_jpeg(color=(0, 255, 255, 0), size=(64, 48)) -> bytes:
    return encoded(Image.new("CMYK", size, color), "JPEG", quality=95)


def palette_png(transparent: bool) -> bytes:
    image = scene(64, 48).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    options = {"transparency": image.getpixel((0, 0))} if transparent else {}
    return encoded(image, "PNG", **options)


def truncated(data: bytes) -> bytes:
    return data[:len(data) // 2]


def decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (IHDR rewritten, CRC fixed)."""
    data = bytearray(encoded(Image.new("L", (8, 8)), "PNG"))
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    return bytes(data)


def text_document(width: int = 900, height: int = 1200) -> Image.Image:
    image = Image.new("RGB", (width, height), (250, 250, 248))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=22)
    for row, y in enumerate(range(40, height - 40, 36)):
        draw.text((40, y), f"Delivery note {row}: order 4711, total 23.50 EUR, signature", fill=(20, 20, 20), font=font)
    return image


def noise_image(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (height, width, 3)).astype(np.uint8))


def uniform_image(color=(0, 0, 0), size=(640, 480)) -> Image.Image:
    return Image.new("RGB", size, color)


def mean_color(image: Image.Image, box) -> np.ndarray:
    """Mean RGB of a region given as fractions (left, top, right, bottom) of the image."""
    width, height = image.size
    left, top, right, bottom = (int(box[0] * width), int(box[1] * height), int(box[2] * width), int(box[3] * height))
    return np.asarray(image.crop((left, top, right, bottom)), dtype=np.float64).reshape(-1, 3).mean(axis=0)
