"""imaging/photo.py on photos made the way phones and other programs make them."""
import ast
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import settings
from imaging import photo
from imaging import samples

RED, TEAL, GREY = np.array([220, 30, 30]), np.array([30, 140, 150]), np.array(photo.NEUTRAL_BACKGROUND)


def assert_upright_scene(image: Image.Image, tolerance: float = 30.0) -> None:
    """Red block top-left, teal top-right: the layout samples.scene draws."""
    assert np.abs(samples.mean_color(image, (0.05, 0.05, 0.45, 0.45)) - RED).max() < tolerance
    assert np.abs(samples.mean_color(image, (0.55, 0.05, 0.95, 0.45)) - TEAL).max() < tolerance


def test_decode_shrinks_a_12_megapixel_phone_jpeg_to_the_longest_side():
    data = samples.phone_jpeg()

    image, original = photo.decode(data)

    assert image.mode == "RGB" and max(image.size) == photo.DEFAULT_MAX_SIDE
    assert image.size == (384, 288)
    assert (original.format, original.width, original.height, original.orientation, original.bytes) == (
        "JPEG", 4032, 3024, 1, len(data))
    assert_upright_scene(image)


def test_decode_reads_a_large_jpeg_at_reduced_scale():
    data = samples.phone_jpeg(noise=0)
    with Image.open(io.BytesIO(data)) as full:
        started = time.process_time()
        full.load()
        full_decode = time.process_time() - started

    started = time.process_time()
    photo.decode(data)
    normalised = time.process_time() - started

    # draft mode decodes at 1/4 scale here: much less work than the whole image (not a timing goal,
    # a check that the reduced decode happens at all)
    assert normalised < full_decode


@pytest.mark.parametrize("orientation", range(1, 9), ids=[f"orientation-{n}" for n in range(1, 9)])
def test_decode_applies_every_exif_orientation_as_pillow_does(orientation):
    data = samples.with_orientation(samples.scene(320, 240), orientation)
    with Image.open(io.BytesIO(data)) as stored:
        expected = ImageOps.exif_transpose(stored).convert("RGB")

    image, original = photo.decode(data)

    assert image.size == expected.size == (320, 240)
    assert np.abs(np.asarray(image, dtype=float) - np.asarray(expected, dtype=float)).mean() < 2.0
    assert_upright_scene(image)
    assert (original.orientation, original.width, original.height) == (orientation, 320, 240)


@pytest.mark.parametrize("orientation", [6, 8], ids=["rotated-right", "rotated-left"])
def test_decode_applies_orientation_to_a_large_portrait_photo(orientation):
    image, original = photo.decode(samples.phone_jpeg(orientation=orientation))

    assert image.size == (288, 384)
    assert (original.width, original.height) == (3024, 4032)
    assert_upright_scene(image)


def test_decode_scales_16_bit_grey_instead_of_clipping_it_to_white():
    image, original = photo.decode(samples.sixteen_bit_png(width=64))

    row = np.asarray(image)[0, :, 0].astype(int)
    assert original.format == "PNG"
    assert row[0] <= 2 and row[-1] >= 253
    assert abs(row[32] - 32 * 255 / 63) <= 3


def test_decode_turns_cmyk_jpeg_into_rgb_colours():
    image, _ = photo.decode(samples.cmyk_jpeg(color=(0, 255, 255, 0)))

    assert np.abs(samples.mean_color(image, (0, 0, 1, 1)) - [255, 0, 0]).max() < 20


@pytest.mark.parametrize("transparent", [False, True], ids=["opaque-palette", "palette-with-transparency"])
def test_decode_turns_palette_png_into_rgb(transparent):
    image, _ = photo.decode(samples.palette_png(transparent))

    corner = samples.mean_color(image, (0, 0, 0.2, 0.2))
    assert image.mode == "RGB"
    assert np.abs(corner - (GREY if transparent else RED)).max() < 30


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_decode_composites_alpha_on_neutral_grey(mode):
    rgba = samples.scene(64, 48).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 0).point(lambda _: 0))
    rgba.paste((220, 30, 30, 255), (0, 0, 32, 24))
    data = samples.encoded(rgba.convert(mode), "PNG")

    image, _ = photo.decode(data)

    assert np.abs(samples.mean_color(image, (0.6, 0.6, 1, 1)) - GREY).max() < 2
    expected_block = RED if mode == "RGBA" else np.array(Image.new("RGB", (1, 1), (220, 30, 30)).convert("L").convert("RGB").getpixel((0, 0)))
    assert np.abs(samples.mean_color(image, (0, 0, 0.45, 0.45)) - expected_block).max() < 3


@pytest.mark.parametrize("options", [{"progressive": True, "quality": 90}, {"quality": 90, "subsampling": 0}],
                         ids=["progressive", "no-chroma-subsampling"])
def test_decode_reads_jpeg_variants(options):
    image, original = photo.decode(samples.encoded(samples.scene(800, 600), "JPEG", **options))

    assert original.format == "JPEG" and image.size == (384, 288)
    assert_upright_scene(image)


@pytest.mark.parametrize("options", [{"quality": 85}, {"lossless": True}], ids=["lossy", "lossless"])
def test_decode_reads_webp(options):
    image, original = photo.decode(samples.encoded(samples.scene(320, 240), "WEBP", **options))

    assert (original.format, image.size) == ("WEBP", (320, 240))
    assert_upright_scene(image)


def test_decode_reads_the_mpo_jpeg_some_phones_write():
    frames = [samples.scene(320, 240), samples.scene(320, 240).transpose(Image.Transpose.ROTATE_180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="MPO", save_all=True, append_images=frames[1:])

    image, original = photo.decode(buffer.getvalue())

    assert original.format == "MPO"
    assert_upright_scene(image)


def test_decode_keeps_a_tiny_image_tiny():
    image, original = photo.decode(samples.encoded(Image.new("RGB", (4, 4), (200, 10, 10)), "PNG"))

    assert image.size == (4, 4) and (original.width, original.height) == (4, 4)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_decode_refuses_a_truncated_file_as_not_an_image(image_format):
    data = samples.truncated(samples.encoded(samples.scene(320, 240, noise=20), image_format))

    with pytest.raises(photo.NotAnImage, match="truncated or corrupt"):
        photo.decode(data)


def test_decode_refuses_a_decompression_bomb_before_decoding_it():
    bomb = samples.decompression_bomb_png(100_000, 100_000)

    started = time.perf_counter()
    with pytest.raises(photo.ImageTooManyPixels, match="megapixels") as refused:
        photo.decode(bomb)

    assert time.perf_counter() - started < 1.0
    assert str(photo.DEFAULT_MAX_MEGAPIXELS) in str(refused.value)


def test_decode_states_the_pixel_limit_and_the_size_found():
    with pytest.raises(photo.ImageTooManyPixels) as refused:
        photo.decode(samples.decompression_bomb_png(9000, 8000))

    assert "9000x8000 pixels (72.0 megapixels); at most 64 megapixels" in str(refused.value)


@pytest.mark.parametrize("data, named", [
    (samples.encoded(Image.new("RGB", (8, 8)), "GIF"), "GIF"),
    (samples.encoded(Image.new("RGB", (8, 8)), "BMP"), "BMP"),
    (samples.encoded(Image.new("RGB", (8, 8)), "TIFF"), "TIFF"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    (b"", "an empty file"),
    (b"hello, world", "an unknown format"),
], ids=["gif", "bmp", "tiff", "pdf", "heic", "empty", "text"])
def test_decode_names_the_format_it_refuses_and_the_accepted_ones(data, named):
    with pytest.raises(photo.NotAnImage) as refused:
        photo.decode(data)

    assert named in str(refused.value) and "JPEG, PNG or WebP" in str(refused.value)


def test_check_byte_size_states_the_limit_and_the_size_found():
    with pytest.raises(photo.ImageTooLarge) as refused:
        photo.check_byte_size(31_200_000, 25_000_000)

    assert str(refused.value) == ("the photo has 31200000 bytes (31.2 MB); at most 25000000 bytes (25.0 MB) "
                                  "are accepted")


def test_check_byte_size_accepts_the_limit_itself():
    photo.check_byte_size(25_000_000, 25_000_000)


@pytest.mark.parametrize("image", [samples.noise_image(384, 384), samples.scene(384, 288, noise=30)],
                         ids=["pure-noise", "noisy-photo"])
def test_encode_always_fits_the_byte_budget(image):
    data, media_type = photo.encode(image)

    assert len(data) <= photo.MAX_ENCODED_BYTES and media_type == "image/jpeg"
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "JPEG" and max(decoded.size) <= 384


def test_encode_keeps_small_images_lossless():
    image = samples.scene(32, 32, noise=10)

    data, media_type = photo.encode(image)

    assert media_type == "image/png"
    with Image.open(io.BytesIO(data)) as decoded:
        assert np.array_equal(np.asarray(decoded), np.asarray(image))


def test_normalize_passes_a_small_upright_png_through_byte_for_byte():
    data = samples.encoded(samples.scene(32, 32, noise=5), "PNG")

    normalised, media_type, original = photo.normalize(data)

    assert (normalised, media_type, original.format) == (data, "image/png", "PNG")


@pytest.mark.parametrize("data", [samples.phone_jpeg(), samples.with_orientation(samples.scene(400, 300), 6),
                                  samples.encoded(samples.scene(320, 240), "WEBP"), samples.sixteen_bit_png()],
                         ids=["phone-jpeg", "rotated-jpeg", "webp", "16-bit-png"])
def test_normalize_produces_an_upright_accepted_image_within_budget(data):
    normalised, media_type, _ = photo.normalize(data)

    assert len(normalised) <= photo.MAX_ENCODED_BYTES
    with Image.open(io.BytesIO(normalised)) as image:
        assert image.format in ("JPEG", "PNG") and media_type == photo.ACCEPTED_FORMATS[image.format]
        assert photo._orientation(image) == 1 and max(image.size) <= photo.DEFAULT_MAX_SIDE


SAGEMAKER_SHIPPED = sorted([*Path(settings.PROJECT_ROOT, "imaging").glob("*.py"),
                            *Path(settings.PROJECT_ROOT, "training").glob("*.py")])


@pytest.mark.parametrize("source", SAGEMAKER_SHIPPED, ids=[path.name for path in SAGEMAKER_SHIPPED])
def test_code_shipped_to_the_sagemaker_container_parses_as_python_3_8(source):
    """The MXNet 1.9 containers run Python 3.8: no syntax newer than that may reach them."""
    ast.parse(source.read_text(), filename=str(source), feature_version=(3, 8))


def test_decode_shrinks_a_large_16_bit_png_without_clipping():
    image, _ = photo.decode(samples.sixteen_bit_png(width=1000, height=800))

    row = np.asarray(image)[10, :, 0].astype(int)
    assert image.size == (384, 307)
    assert row[0] <= 3 and row[-1] >= 252 and abs(row[192] - 128) <= 4


@pytest.mark.parametrize("mode", ["RGBA", "P"], ids=["rgba", "palette-with-transparency"])
def test_decode_shrinks_a_large_transparent_png_and_composites_it_on_grey(mode):
    if mode == "RGBA":
        picture = samples.scene(800, 600).convert("RGBA")
        picture.paste((0, 0, 0, 0), (400, 300, 800, 600))
        data = samples.encoded(picture, "PNG")
    else:
        picture = samples.scene(800, 600).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
        transparent = len(picture.getpalette()) // 3  # one more palette entry, declared transparent
        picture.putpalette(picture.getpalette() + [0, 0, 0])
        picture.paste(transparent, (400, 300, 800, 600))
        data = samples.encoded(picture, "PNG", transparency=transparent)

    image, _ = photo.decode(data)

    assert image.size == (384, 288)
    assert_upright_scene(image)
    assert np.abs(samples.mean_color(image, (0.6, 0.6, 0.95, 0.95)) - GREY).max() < 2
