"""The sealed scheme keeps the input file itself: encrypted and decrypted, a JPEG or PNG comes back byte for byte
under its own extension; a file too large falls back to the pixel payload (a PNG); ciphertexts with pixel
payloads still decrypt to .png; the output's extension drives never-overwrite, --force and --resume."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import ric
from ric import hub
from ric.cli import main
from ric.errors import InputImageError, OutputExistsError, TamperedPixelsError
from ric.files.engine import decrypt_files, encrypt_files
from ric.hub import Loaded
from ric.io.images import load_picture
from ric.keys import Key, seeded_nonces
from ric.schemes import container
from ric.schemes.sealed import CODEC_FILE, CODEC_PNG, open_sealed_file, payload_room
from ric.schemes.sealed.original import file_ext, pack_file, unpack_file
from ric.schemes.sealed.scheme import SealedScheme

SAMPLES = os.path.join(os.path.dirname(ric.__file__), "samples")
GOLDEN_V2 = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "golden", "sealed_v2")
KEY = Key(hashlib.sha256(b"test_original_file key").digest())
SECRET = b"SecretCam-4711"                  # in the EXIF of the JPEG: never in clear in the ciphertext

needs_cifar10 = pytest.mark.skipif("cifar10" not in hub.shipped_names(), reason="shipped cifar10 classifier absent")


def photo(name: str, w: int = 64, h: int = 48) -> Image.Image:
    """A real (CIFAR-10 test) image from the bundled samples, upscaled to w×h."""
    return Image.open(os.path.join(SAMPLES, name)).convert("RGB").resize((w, h), Image.BICUBIC)


def exif_jpeg(path, im: Image.Image, **kw) -> None:
    exif = Image.Exif()
    exif[0x010F] = SECRET.decode()          # Make
    exif[0x0110] = "ModelX"                 # Model
    im.save(path, format="JPEG", quality=92, exif=exif.tobytes(), **kw)


@pytest.fixture(scope="module")
def cifar10():
    return hub.load_classifier("cifar10")


@pytest.fixture(scope="module")
def sealed(cifar10, tmp_path_factory):
    """Three inputs encrypted once, deterministically, with the shipped cifar10 classifier: a JPEG with EXIF
    (upper-case extension), a PNG, and a JPEG whose comment makes the file larger than the capacity."""
    d = tmp_path_factory.mktemp("original")
    plain = d / "plain"
    plain.mkdir()
    exif_jpeg(plain / "photo.JPG", photo("cat_03897.png"))
    photo("ship_08055.png").save(plain / "pic.png")
    exif_jpeg(plain / "big.jpeg", photo("frog_06833.png"), comment=b"c" * (payload_room(48, 64) + 100))
    paths = [str(plain / n) for n in ("photo.JPG", "pic.png", "big.jpeg")]
    scheme = SealedScheme(cifar10, nonce_source=seeded_nonces(5), seed=5)
    enc = encrypt_files(scheme, KEY, paths, str(d / "enc"))
    assert [r.error for r in enc] == [None] * 3
    return d, paths, enc


def _dec(sealed, out: str, **kw):
    d, _, enc = sealed
    return decrypt_files(SealedScheme(), KEY, [r.out for r in enc], str(d / out), **kw)


@needs_cifar10
def test_jpeg_and_png_come_back_byte_identical_under_their_own_extensions(sealed):
    d, paths, enc = sealed
    assert [r.out for r in enc] == [str(d / "enc" / f"{s}.png") for s in ("photo", "pic", "big")]
    assert [r.info["codec"] for r in enc[:2]] == [CODEC_FILE, CODEC_FILE]
    dec = _dec(sealed, "dec")
    assert [r.error for r in dec] == [None] * 3
    assert dec[0].out == str(d / "dec" / "photo.JPG") and dec[1].out == str(d / "dec" / "pic.png")
    for r, src in zip(dec[:2], paths[:2]):
        assert open(r.out, "rb").read() == open(src, "rb").read()
        assert os.stat(r.out).st_mode & 0o777 == 0o600
    assert Image.open(dec[0].out).getexif()[0x010F] == SECRET.decode()      # the metadata travels inside


@needs_cifar10
def test_the_label_is_the_decoded_pixels_and_open_sealed_file_gives_the_file(sealed, cifar10):
    import torch
    _, paths, enc = sealed
    x = torch.from_numpy(load_picture(paths[0]).pixels).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        assert enc[0].label == int(cifar10.module(x).argmax(1))
    ext, data = open_sealed_file(KEY, container.read(enc[0].out).pixels)
    assert (ext, data) == (".JPG", open(paths[0], "rb").read())


@needs_cifar10
def test_no_exif_in_clear_in_the_ciphertext(sealed):
    _, paths, enc = sealed
    assert SECRET in open(paths[0], "rb").read()
    raw = open(enc[0].out, "rb").read()
    pixels = container.read(enc[0].out).pixels.tobytes()
    for blob in (raw, pixels):
        assert SECRET not in blob and b"Exif\x00\x00" not in blob and b"ModelX" not in blob


@needs_cifar10
def test_a_file_too_large_falls_back_to_the_pixel_payload(sealed):
    d, paths, enc = sealed
    assert os.path.getsize(paths[2]) > payload_room(48, 64)
    assert enc[2].info["codec"] == CODEC_PNG
    (r,) = [r for r in _dec(sealed, "dec_big") if r.src.endswith("big.png")]
    assert r.out == str(d / "dec_big" / "big.png")
    assert np.array_equal(np.asarray(Image.open(r.out)), np.asarray(Image.open(paths[2])))


def _key_file(d) -> str:
    path = d / "k.key"
    if not path.exists():
        KEY.save(str(path))
    return str(path)


@needs_cifar10
def test_never_overwrite_force_and_resume_use_the_real_extension(sealed, capsys):
    d, paths, enc = sealed
    out = d / "dec_resume"
    first = _dec(sealed, "dec_resume")
    assert [r.error for r in first] == [None] * 3
    again = _dec(sealed, "dec_resume")
    assert all(isinstance(r.error, OutputExistsError) for r in again)
    assert "photo.JPG already exists" in str(again[0].error)
    resumed = _dec(sealed, "dec_resume", resume=True)
    assert [(r.out, r.skipped) for r in resumed] == [(r.out, True) for r in first]
    # an output that is not complete is never overwritten by --resume; --force rewrites it byte for byte
    (out / "photo.JPG").write_bytes(b"half a jpeg")
    (out / "pic.png").unlink()
    part = _dec(sealed, "dec_resume", resume=True)
    assert isinstance(part[0].error, OutputExistsError) and "not resumable" in str(part[0].error)
    assert not part[1].skipped and part[1].error is None and part[2].skipped
    assert (out / "pic.png").read_bytes() == open(paths[1], "rb").read()
    assert [r.error for r in _dec(sealed, "dec_resume", force=True)] == [None] * 3
    assert (out / "photo.JPG").read_bytes() == open(paths[0], "rb").read()
    # the CLI: exit 13 without --force, 0 with --resume, and --json names the real file
    capsys.readouterr()
    enc_dir = str(d / "enc")
    assert main(["decrypt", "--key", _key_file(d), "--out", str(out), enc_dir, "-q"]) == OutputExistsError.exit_code
    capsys.readouterr()
    assert main(["decrypt", "--key", _key_file(d), "--out", str(out), enc_dir, "--resume", "--json"]) == 0
    rows = {os.path.basename(r["file"]): r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["photo.png"]["out"] == str(out / "photo.JPG") and rows["photo.png"]["skipped"]


@needs_cifar10
def test_another_extension_of_the_same_stem_is_neither_overwritten_nor_a_block(sealed):
    d, _, enc = sealed
    out = d / "dec_other"
    out.mkdir()
    (out / "photo.png").write_bytes(b"my own file")
    res = _dec(sealed, "dec_other")
    assert res[0].error is None and res[0].out == str(out / "photo.JPG")
    assert (out / "photo.png").read_bytes() == b"my own file"


@needs_cifar10
def test_inputs_with_one_stem_collide_whatever_their_extensions(sealed):
    d, _, enc = sealed
    other = d / "enc_other"
    other.mkdir(exist_ok=True)
    shutil.copy(enc[0].out, other / "photo.png")
    res = decrypt_files(SealedScheme(), KEY, [enc[0].out, str(other / "photo.png")], str(d / "dec_collide"))
    assert res[0].error is None and "would collide" in str(res[1].error)


def test_pixel_payload_ciphertexts_still_decrypt_to_png(tmp_path):
    """The golden version-2 ciphertexts (PNG payloads, written before the file payload existed) decrypt to
    DIR/<stem>.png with the committed pixels."""
    with open(os.path.join(GOLDEN_V2, "manifest.json")) as f:
        man = json.load(f)
    key = Key.load(os.path.join(GOLDEN_V2, man["key"]), check_permissions=False)
    paths = [os.path.join(GOLDEN_V2, f["ciphertext"]) for f in man["files"]]
    res = decrypt_files(SealedScheme(), key, paths, str(tmp_path / "dec"))
    for r, f in zip(res, man["files"]):
        assert r.error is None and r.out == str(tmp_path / "dec" / f["ciphertext"])
        rgb = np.asarray(Image.open(r.out).convert("RGB"))
        assert hashlib.sha256(rgb.tobytes()).hexdigest() == f["plaintext_sha256"]


def test_pictures_carry_the_file_only_when_it_decodes_to_the_labelled_pixels(tmp_path):
    im = photo("cat_03897.png")
    im.save(tmp_path / "a.png")
    assert load_picture(str(tmp_path / "a.png"), keep_mode=True).file == (tmp_path / "a.png").read_bytes()
    assert load_picture(str(tmp_path / "a.png"), (32, 32), keep_mode=True).file is None       # --resize
    assert load_picture(str(tmp_path / "a.png")).file is None                                  # a lossy scheme
    frames = [im, im.transpose(Image.FLIP_LEFT_RIGHT)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(InputImageError, match="several frames"):                                # refused whole
        load_picture(str(tmp_path / "anim.gif"), keep_mode=True)


def test_extensions_are_kept_as_written_and_checked_when_opened():
    assert file_ext(".JPG", "JPEG") == ".JPG" and file_ext(".jpeg", "JPEG") == ".jpeg"
    assert file_ext("", "JPEG") == ".jpg" and file_ext(".bak", "PNG") == ".png"
    assert unpack_file(pack_file(".JPG", b"\xff\xd8data")) == (".JPG", b"\xff\xd8data")
    for bad in ("/../x", ".sh", ".png/x", ""):
        with pytest.raises(TamperedPixelsError):
            unpack_file(pack_file(bad, b"data"))


def test_lossy_fallback_is_counted_in_the_summary(tmp_path, monkeypatch, capsys, toy_classifier):
    """--lossy-fallback: a warning per image and the count and worst PSNR in the summary line."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save("noise.png")
    assert main(["keygen", "k.key"]) == 0
    monkeypatch.setattr(hub, "load_classifier", lambda spec, device="cpu": Loaded(toy_classifier, "toy"))
    capsys.readouterr()
    assert main(["encrypt", "--scheme", "sealed", "--lossy-fallback", "--key", "k.key", "--out", "enc",
                 "--margin", "0.5", "noise.png"]) == 0
    err = capsys.readouterr().err
    assert "did not fit losslessly" in err
    assert "ric: encrypted 1, skipped 0 already complete, failed 0; 1 of 1 stored lossy, worst " in err
