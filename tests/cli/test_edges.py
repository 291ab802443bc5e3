"""Issue 32, item 7: every ciphertext RIC writes, RIC reads; nothing is silently dropped or overwritten. Each edge
is one line `ric: error: ...` (no traceback, no temporary file name), its documented exit code, and every existing
file left as it was."""
import contextlib
import errno
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ric.cli import main
from ric.errors import ContainerError, InputImageError, OutputExistsError, OutputWriteError, RICError
from ric.io import atomic

USAGE = 2


@pytest.fixture(scope="module")
def made(tmp_path_factory, toy_pair):
    """A 16x16 plaintext, its sealed ciphertext (toy classifier) and two keys, made once."""
    d = tmp_path_factory.mktemp("edges")
    with contextlib.chdir(d):
        ramp = np.arange(16, dtype=np.uint8) * 16         # smooth: fits a 16x16 sealed ciphertext losslessly
        Image.fromarray(np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 128), -1).astype(np.uint8)).save(
            "x.png")
        assert main(["keygen", "k.key"]) == 0 and main(["keygen", "k2.key"]) == 0
        assert main(["encrypt", "--key", "k.key", "--out", "enc", "--scheme", "sealed", "--classifier",
                     toy_pair["classifier"], "-q", "x.png"]) == 0
    return {"plain": (d / "x.png").read_bytes(), "cipher": (d / "enc" / "x.png").read_bytes(),
            "key": (d / "k.key").read_text(), "key2": (d / "k2.key").read_text(), "clf": toy_pair["classifier"]}


@pytest.fixture
def w(tmp_path, made, monkeypatch):
    """This test's folder as the working directory: x.png (plaintext), c.png (its ciphertext), k.key, k2.key."""
    monkeypatch.chdir(tmp_path)
    for fn, text in (("k.key", made["key"]), ("k2.key", made["key2"])):
        with open(os.open(fn, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(text)
    _put("x.png", made["plain"])
    _put("c.png", made["cipher"])
    return made


def _put(path, data: bytes):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _get(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _tree(root=".") -> dict:
    """Every file under `root` and its bytes (links followed), to show nothing changed."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[p] = _get(p) if os.path.exists(p) else None
    return out


def _enc(w, *args):
    return ["encrypt", "--key", "k.key", "--scheme", "sealed", "--classifier", w["clf"], "-q", *args]


def _dec(*args):
    return ["decrypt", "--key", "k.key", "-q", *args]


def one_error(capsys, argv, code) -> str:
    """Run the CLI in-process (a usage error is SystemExit): exit `code`, exactly one stderr line `ric: error: ...`,
    no traceback, no temporary file named, no file changed. Returns the line."""
    capsys.readouterr()
    before = _tree()
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == code, (rc, cap.err)
    assert len(lines) == 1 and lines[0].startswith("ric: error: "), cap.err
    assert "Traceback" not in cap.err + cap.out and ".part" not in cap.err and ".tmp" not in cap.err
    assert _tree() == before, "a file was written or changed"
    return lines[0]


# -- 1. integer options are checked when parsed -----------------------------------------------------------
@pytest.mark.parametrize("cmd", ["encrypt", "decrypt", "classify"])
@pytest.mark.parametrize("opt, value, says", [("--batch-size", "-1", "at least 1"), ("--batch-size", "0", "at least 1"),
                                              ("--window", "0", "at least 1"), ("--threads", "-1", "at least 0"),
                                              ("--batch-size", "two", "whole number")])
def test_integer_options_are_usage_errors(w, capsys, cmd, opt, value, says):
    argv = {"encrypt": _enc(w, "--out", "out", "x.png"), "decrypt": _dec("--out", "out", "c.png"),
            "classify": ["classify", "--classifier", w["clf"], "-q", "x.png"]}[cmd]
    line = one_error(capsys, [*argv, opt, value], USAGE)
    assert f"argument {opt}: " in line and says in line and f"ric {cmd} --help" in line


@pytest.mark.parametrize("argv", [["attack", "linkage", "--threads", "-1"], ["attack", "linkage", "--batch-size", "0"],
                                  ["experiment", "ablation", "--threads", "0"]])
def test_other_commands_check_their_integer_options(w, capsys, argv):
    assert "must be at least" in one_error(capsys, argv, USAGE)


# -- 2. --resize within the input policy's sides --------------------------------------------------------------
@pytest.mark.parametrize("size, says", [("0x0", "8 to 4096"), ("4x4", "8 to 4096"), ("5000x5000", "8 to 4096"),
                                        ("8x4097", "8 to 4096"), ("32", "HxW")])
def test_resize_outside_the_input_policy_is_refused(w, capsys, size, says):
    line = one_error(capsys, _enc(w, "--out", "out", "--resize", size, "x.png"), USAGE)
    assert "argument --resize: " in line and says in line and not os.path.exists("out")


def test_resize_bounds_are_the_input_policy(w):
    from ric.cli.options import parse_hw, size_hw
    from ric.io.images import MAX_SIDE, MIN_SIDE
    assert size_hw(f"{MIN_SIDE}x{MAX_SIDE}") == (MIN_SIDE, MAX_SIDE)
    with pytest.raises(RICError, match="--resize"):
        parse_hw(f"{MAX_SIDE + 1}x8")           # args built by hand get the same check


# -- 3. --margin is a finite number >= 0 ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "five"])
def test_margin_must_be_finite_and_not_negative(w, capsys, value):
    line = one_error(capsys, _enc(w, "--out", "out", f"--margin={value}", "x.png"), USAGE)
    assert "argument --margin: " in line


# -- 4. --device ------------------------------------------------------------------------------------------
def test_cuda_on_a_torch_without_cuda(w, capsys, monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    line = one_error(capsys, _enc(w, "--out", "out", "--device", "cuda", "x.png"), USAGE)
    assert "CUDA is not available in this torch build" in line and "--cpu" in line


def test_cuda_without_a_gpu(w, capsys, monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = one_error(capsys, _dec("--out", "out", "--device", "cuda:0", "c.png"), USAGE)
    assert "no CUDA GPU" in line and "--cpu" in line


def test_unknown_device(w, capsys):
    assert "'banana' is not a torch device" in one_error(capsys, _enc(w, "--out", "out", "--device", "banana",
                                                                      "x.png"), USAGE)


# -- 5. --force never replaces an input, whatever links lead to it ------------------------------------------
def test_out_is_a_symlink_to_the_input_folder(w, capsys):
    _put("plain/x.png", w["plain"])
    os.symlink("plain", "enc")
    line = one_error(capsys, _enc(w, "--out", "enc", "--force", "plain/x.png"), OutputExistsError.exit_code)
    assert "would overwrite the input itself" in line


def test_input_is_a_symlink_into_out(w, capsys):
    _put("enc/x.png", w["plain"])                     # the real plaintext, inside --out
    os.makedirs("in")
    os.symlink("../enc/x.png", "in/x.png")
    one_error(capsys, _enc(w, "--out", "enc", "--force", "in/x.png"), OutputExistsError.exit_code)


def test_output_is_a_hard_link_of_the_input(w, capsys):
    os.makedirs("enc")
    os.link("x.png", "enc/x.png")
    one_error(capsys, _enc(w, "--out", "enc", "--force", "x.png"), OutputExistsError.exit_code)


def test_an_output_that_is_another_input(w, capsys):
    """a.jpg's output a.png is the input a.png (and a.png's own output is itself): neither is written."""
    Image.open("x.png").save("a.jpg", quality=95)
    _put("a.png", w["plain"])
    before = _tree()
    assert main(_enc(w, "--out", ".", "--force", "a.jpg", "a.png")) == OutputExistsError.exit_code
    assert "the input a.png" in capsys.readouterr().err and _tree() == before


@pytest.mark.parametrize("out", [".", "link"])
def test_decrypt_output_that_is_the_ciphertext_itself(w, capsys, out):
    os.symlink(".", "link")
    one_error(capsys, _dec("--out", out, "--force", "c.png"), OutputExistsError.exit_code)


# -- 6. animated images are refused ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw", [("anim.png", {}), ("anim.gif", {}), ("anim.webp", {"lossless": True})])
def test_animated_images_are_refused(w, capsys, name, kw):
    frames = [Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)) for i in range(3)]
    frames[0].save(name, save_all=True, append_images=frames[1:], **kw)
    line = one_error(capsys, _enc(w, "--out", "out", name), InputImageError.exit_code)
    assert "several frames (3)" in line and "extract the frames" in line


# -- 7. outputs that cannot be written ------------------------------------------------------------------------
def test_out_naming_a_file_is_refused_before_any_work(w, capsys):
    _put("afile", b"keep")
    # a classifier that does not exist: the check comes first
    line = one_error(capsys, ["encrypt", "--key", "k.key", "--classifier", "nope.safetensors", "--out", "afile",
                              "x.png"], OutputWriteError.exit_code)
    assert "--out afile is a file" in line
    assert "afile is a file" in one_error(capsys, _dec("--out", "afile/sub", "c.png"), OutputWriteError.exit_code)


@pytest.mark.parametrize("path, says", [("nodir/k.key", "its folder does not exist"),
                                        ("afile/k.key", "is a file, not a folder")])
def test_keygen_where_it_cannot_write(w, capsys, path, says):
    _put("afile", b"keep")
    line = one_error(capsys, ["keygen", path], OutputWriteError.exit_code)
    assert line == f"ric: error: cannot write {path}: " + line.split(": ", 3)[-1] and says in line


def test_full_disk(w, capsys, monkeypatch):
    """Every write fails with ENOSPC: one line naming the output, and no temporary file is left behind."""
    real = os.fdopen

    class Full:
        def __init__(self, fd, *a, **k):
            self.f = real(fd, *a, **k)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fdopen", Full)
    os.makedirs("out")
    line = one_error(capsys, _enc(w, "--out", "out", "x.png"), OutputWriteError.exit_code)
    assert line == "ric: error: cannot write out/x.png: no space left on the device"
    assert os.listdir("out") == []


def test_write_error_in_the_folder_names_the_output(w, capsys, monkeypatch):
    """The folder refuses the temporary file (works as root too, where chmod does not stop writes)."""
    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "out/.x.png.abc.part")
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    os.makedirs("out")
    line = one_error(capsys, _enc(w, "--out", "out", "x.png"), OutputWriteError.exit_code)
    assert line == "ric: error: cannot write out/x.png: its folder is not writable"


def test_read_only_out_folder(w, capsys):
    os.makedirs("ro")
    os.chmod("ro", 0o555)
    try:
        if os.access("ro", os.W_OK):
            pytest.skip("running as root (or with CAP_DAC_OVERRIDE): mode 0555 does not stop writes here")
        line = one_error(capsys, _enc(w, "--out", "ro", "x.png"), OutputWriteError.exit_code)
        assert "not writable" in line
        line = one_error(capsys, _enc(w, "--out", "ro/sub", "x.png"), OutputWriteError.exit_code)
        assert "not writable" in line
    finally:
        os.chmod("ro", 0o755)


def test_write_atomic_translates_errors_and_removes_its_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_write_and_move", lambda *a: (_ for _ in ()).throw(
        OSError(errno.EDQUOT, "Disk quota exceeded")))
    with pytest.raises(OutputWriteError, match=r"^cannot write .*a\.png: the disk quota is exceeded$"):
        atomic.write_atomic(str(tmp_path / "a.png"), b"x")
    assert os.listdir(tmp_path) == []


# -- 8. nothing skipped silently; one summary and one exit-code rule for folders and lists --------------------
def test_decrypt_warns_about_files_that_are_not_ciphertexts(w, capsys):
    _put("in/c.png", w["cipher"])
    _put("in/x.gif", b"GIF89a")
    os.makedirs("in/sub")
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "in"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "ric: warning: skipped 1 file that is not a .png ciphertext: in/x.gif" in err
    assert "ric: warning: in/sub: a sub-folder, not entered (folders are not walked recursively)" in err
    assert err[-1] == "ric: decrypted 1, skipped 0 already complete, failed 0"


def test_decrypt_of_a_file_list_prints_the_summary_too(w, capsys):
    capsys.readouterr()
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "c.png"]) == 0
    assert capsys.readouterr().err.splitlines() == ["ric: decrypted 1, skipped 0 already complete, failed 0"]


@pytest.mark.parametrize("folder", [False, True])
def test_mixed_failures_exit_with_the_first_and_count_each_code(w, capsys, folder):
    """A ciphertext under another key (exit 6), then garbage (exit 5): the exit code is the first failure's, and
    the summary counts each code; the same for a list of files and a folder (one failure kind per folder here:
    a folder's order is the file system's)."""
    _put("in/w.png", w["cipher"])
    _put("in/g.png", b"not a png")
    with open("k.key", "w") as f:
        f.write(w["key2"])
    capsys.readouterr()
    if folder:
        os.remove("in/g.png")
        _put("in/c.png", w["cipher"])
        argv, code, counts = ["in"], 6, "failed 2 (exit 6: 2)"
    else:
        argv, code, counts = ["in/w.png", "in/g.png"], 6, "failed 2 (exit 5: 1, exit 6: 1)"
    assert main(["decrypt", "--key", "k.key", "--out", "dec", *argv]) == code
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"ric: decrypted 0, skipped 0 already complete, {counts}"
    assert not os.path.exists("dec")
    if not folder:
        assert main(["decrypt", "--key", "k.key", "--out", "dec", "in/g.png", "in/w.png"]) == 5


# -- 9. bytes after IEND are not part of a ciphertext ---------------------------------------------------------
@pytest.mark.parametrize("cmd", ["decrypt", "info"])
def test_trailing_bytes_after_iend_are_refused(w, capsys, cmd):
    _put("t.png", w["cipher"] + b"appended secret")
    argv = _dec("--out", "out", "t.png") if cmd == "decrypt" else ["info", "t.png"]
    line = one_error(capsys, argv, ContainerError.exit_code)
    assert "15 bytes after the PNG's IEND chunk" in line


def test_the_service_refuses_trailing_bytes(w):
    from ric.service import uploads
    with pytest.raises(uploads.Rejected) as e:
        uploads.check_png_headers("t.png", w["cipher"] + b"\x00", uploads.Settings())
    assert (e.value.status, e.value.code) == (422, "not_a_ciphertext") and "after the PNG's IEND" in e.value.message
    assert uploads.check_png_headers("c.png", w["cipher"], uploads.Settings()).width == 16


def test_a_ciphertext_larger_than_ric_reads_is_refused_not_written(w, made, capsys, monkeypatch):
    """The writer's cap is the reader's: a ciphertext over it is exit 14 with one line, and no file."""
    import ric.files.engine as engine
    monkeypatch.setattr(engine, "MAX_CIPHERTEXT_BYTES", 200)
    code = main(["encrypt", "--key", "k.key", "--out", "enc", "--classifier", made["clf"], "-q", "x.png"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 14 and len(err) == 1 and "over the 0 MiB that RIC reads; nothing written" in err[0]
    assert not os.path.exists("enc/x.png")


def test_a_stripped_sealed_ciphertext_is_refused_then_decrypts_with_allow_stripped(w, made, capsys):
    """Metadata stripped on the way: exit 5 naming --allow-stripped, nothing written; with it, the exact plaintext."""
    Image.open("c.png").save("bare.png")                     # the same pixels, no `ric` chunk
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "-q", "bare.png"]) == ContainerError.exit_code
    assert "--allow-stripped" in capsys.readouterr().err and not os.path.exists("dec/bare.png")
    assert main(["decrypt", "--key", "k.key", "--out", "dec", "-q", "--allow-stripped", "bare.png"]) == 0
    assert np.array_equal(np.asarray(Image.open("dec/bare.png").convert("RGB")),
                          np.asarray(Image.open("x.png").convert("RGB")))


def test_a_paper_option_selects_the_paper_scheme_and_is_refused_with_sealed(w, made, toy_pair, capsys):
    from ric.schemes import container
    args = ["encrypt", "--key", "k.key", "--classifier", made["clf"], "-q", "x.png"]
    assert main([*args, "--out", "s"]) == 0 and container.read("s/x.png").scheme == "sealed"
    assert main([*args, "--out", "p", "--model", toy_pair["model"]]) == 0
    assert container.read("p/x.png").header.format == "ric/4"
    capsys.readouterr()
    assert main([*args, "--out", "bad", "--scheme", "sealed", "--mix", "none"]) == USAGE
    assert capsys.readouterr().err.strip() == ("ric: error: --mix is an option of the paper scheme, not of --scheme "
                                               "sealed (which uses only --classifier)")
    assert not os.path.exists("bad")
