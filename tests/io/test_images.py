"""Reading TIFF (8/16-bit, BigTIFF), PNG and JPEG, and refusing what is not an image."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image

from xraysep.errors import InputError
from xraysep.io.images import open_image, read_image, write_tiff_tiles

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (20, 30), dtype=np.uint16)
RGB16 = RNG.integers(0, 65536, (20, 30, 3), dtype=np.uint16)


def planar_tiff(path, array):
    tifffile.imwrite(path, np.moveaxis(array, -1, 0), photometric="rgb", planarconfig="separate")


@pytest.mark.parametrize(
    ("name", "array", "kind", "writer"),
    [
        ("rgb8.tif", RGB8, "rgb", lambda p, a: tifffile.imwrite(p, a, photometric="rgb")),
        ("grey16.tiff", GREY16, "grey", tifffile.imwrite),
        ("big.tif", GREY16, "grey", lambda p, a: tifffile.imwrite(p, a, bigtiff=True)),
        ("planar.tif", RGB8, "rgb", planar_tiff),
        ("rgb.png", RGB8, "rgb", lambda p, a: Image.fromarray(a).save(p)),
        ("grey16.png", GREY16, "grey", lambda p, a: Image.fromarray(a).save(p)),
        ("rgb16.png", RGB16, "rgb", lambda p, a: p.write_bytes(imagecodecs.png_encode(a))),
        (
            "lzw.tif",
            GREY16,
            "grey",
            lambda p, a: Image.fromarray(a).save(p, compression="tiff_lzw"),
        ),
        ("rgb16.tif", RGB16, "rgb", lambda p, a: tifffile.imwrite(p, a, compression="lzw")),
    ],
)
def test_lossless_formats_round_trip(tmp_path, name, array, kind, writer):
    path = tmp_path / name
    writer(path, array)
    read = read_image(path, kind)
    assert read.dtype == array.dtype
    np.testing.assert_array_equal(read, array)


def test_jpeg_reads_close(tmp_path):
    smooth = np.repeat(np.linspace(0, 255, 30, dtype=np.uint8)[None, :, None], 20, 0)
    rgb = np.repeat(smooth, 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "a.jpeg", quality=95)
    read = read_image(tmp_path / "a.jpeg", "rgb")
    assert read.shape == (20, 30, 3) and np.abs(read.astype(int) - rgb).max() < 8


def rgba_png(folder):
    Image.fromarray(np.dstack([RGB8, RGB8[..., :1]])).save(folder / "x.png")


def nan_tiff(folder):
    tifffile.imwrite(folder / "x.tif", np.full((4, 4), np.nan, np.float32))


@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (lambda p: tifffile.imwrite(p / "x.tif", RGB8), "grey", "expected a grey X-ray"),
        (
            lambda p: tifffile.imwrite(p / "x.tif", GREY16),
            "rgb",
            "is a grey image; expected an RGB",
        ),
        (rgba_png, "rgb", "RGBA"),
        (lambda p: (p / "x.png").write_text("not an image at all"), "rgb", "cannot decode image"),
        (lambda p: (p / "x.tif").write_bytes(b""), "grey", "file is empty"),
        (nan_tiff, "grey", "NaN"),
        (lambda p: (p / "x.bmp").write_bytes(b"BM"), "grey", "unsupported file type"),
    ],
)
def test_bad_files_are_refused_with_their_name(tmp_path, make, kind, message):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(InputError, match=message) as caught:
        read_image(path, kind)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_truncated_tiff_is_refused(tmp_path):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, GREY16)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match="cannot decode image"):
        read_image(path, "grey")


def test_truncated_png_is_refused(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(RGB8).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="cannot decode image"):
        read_image(path, "rgb")


def test_truncated_tiff_with_its_directory_at_the_end_is_refused(tmp_path):
    """Pillow writes the TIFF directory after the pixels: cut, the file has no image, and
    the decoder's complaint (otherwise logged on stderr) becomes the one-line message."""
    path = tmp_path / "x.tif"
    Image.fromarray(GREY16).save(path, compression="tiff_lzw")
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(InputError, match="holds no image; the file is damaged or truncated"):
        read_image(path, "grey")


def test_a_stack_of_images_is_refused(tmp_path):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, np.stack([GREY16] * 5), photometric="minisblack")
    with pytest.raises(InputError, match=r"holds 5 images \(axes QYX\); expected a single"):
        read_image(path, "grey")


def test_size_limit_is_checked_before_decoding(tmp_path):
    """A 2.1-gigapixel header on an almost empty (sparse) file: refused at once, whereas
    decoding it would take 2 GB."""
    tifffile.imwrite(tmp_path / "x.tif", shape=(46000, 46000), dtype=np.uint8)
    with pytest.raises(InputError, match=r"2116\.0 megapixels \(46000×46000\) exceeds"):
        read_image(tmp_path / "x.tif", "grey", max_megapixels=2000)


def test_size_limit(tmp_path):
    tifffile.imwrite(tmp_path / "x.tif", GREY16)
    with pytest.raises(InputError, match=r"exceeds the limit of 0\.0001"):
        read_image(tmp_path / "x.tif", "grey", max_megapixels=0.0001)


def test_tiled_tiff_writer_streams_exact_values(tmp_path):
    image = np.linspace(0, 1, 700 * 530, dtype=np.float32).reshape(700, 530)
    write_tiff_tiles(tmp_path / "x.tif", image, tile=256)
    read = tifffile.imread(tmp_path / "x.tif")
    assert read.dtype == np.uint16 and read.shape == (700, 530)
    np.testing.assert_array_equal(read, np.round(image * 65535).astype(np.uint16))


def test_tiff_is_read_by_window(tmp_path):
    """open_image gives a TIFF as a window source: a window read through it equals the
    same window of the whole image, for tiled, striped and planar files."""
    image = RNG.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    writers = {
        "tiled.tif": lambda p: tifffile.imwrite(p, image, photometric="rgb", tile=(64, 64)),
        "strips.tif": lambda p: tifffile.imwrite(p, image, photometric="rgb", rowsperstrip=7),
        "planar.tif": lambda p: planar_tiff(p, image),
    }
    for name, write in writers.items():
        write(tmp_path / name)
        with open_image(tmp_path / name, "rgb") as source:
            assert source.shape == image.shape and source.dtype == np.uint8
            np.testing.assert_array_equal(source[17:150, 33:190], image[17:150, 33:190])
