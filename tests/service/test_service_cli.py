"""The service's CLI contract against a real `ric serve` subprocess on loopback: token create, upload --json,
download by label (original names, never overwriting), one-line errors with exit codes, and the full
keygen -> encrypt -> upload -> download by class -> decrypt workflow with the shipped cifar10 models."""
import contextlib
import glob
import io
import json
import os
import re
import socket
import sys

import httpx
import numpy as np
import pytest
from image_support import psnr_u8
from PIL import Image
from service_support import Server, ric_cmd, toy_set

import ric
from ric.cli import main
from ric.service.store import open_store

SAMPLES = os.path.join(os.path.dirname(ric.__file__), "samples")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("service_cli")
    toys = toy_set()
    enc, models = toys["enc"], toys["models"]
    db = f"sqlite:///{d}/store.db"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["token", "create", "--db", db]) == 0
    server = Server(db, models["classifier"], str(d / "server.log"))
    yield {"dir": d, "enc": enc, "db": db, "token": out.getvalue().strip(), "url": server.url,
           "token_out": out.getvalue()}
    server.stop()


def _one_line_error(err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert lines and all(ln.startswith("ric: error: ") for ln in lines), err
    assert "Traceback" not in err and needle in err, err


def _upload(served, capsys, *files, token=None):
    code = main(["upload", "--server", served["url"], "--token", token or served["token"], "--json", *files])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_token_create_prints_exactly_one_token(served):
    assert served["token_out"].count("\n") == 1 and served["token"].startswith("ric_")
    assert len(served["token"]) > 40


def test_upload_json_then_download_by_label(served, capsys, tmp_path):
    code, rows, _ = _upload(served, capsys, *served["enc"])
    assert code == 0
    assert [set(r) for r in rows] == [{"file", "id", "label"}] * 6
    assert [r["file"] for r in rows] == served["enc"]
    labels = {os.path.basename(r["file"]): r["label"] for r in rows}
    assert sorted(set(labels.values())) == [0, 2]
    for label, by in ((0, "0"), (2, "gamma")):  # a number or a class name
        out = tmp_path / f"down{label}"
        assert main(["download", "--server", served["url"], "--token", served["token"], "--label", by,
                     "--out", str(out)]) == 0
        capsys.readouterr()
        got = sorted(os.listdir(out))
        want = sorted({n for n, lab in labels.items() if lab == label})
        assert got == want
        for n in got:
            assert (out / n).read_bytes() == open(os.path.join(toy_set()["dir"], "enc", n), "rb").read()


def test_download_never_overwrites_without_force(served, capsys, tmp_path):
    _upload(served, capsys, served["enc"][1])
    out = tmp_path / "d"
    out.mkdir()
    (out / "im1.png").write_bytes(b"my own file")
    code = main(["download", "--server", served["url"], "--token", served["token"], "--label", "0",
                 "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 13 and "already exists" in err and (out / "im1.png").read_bytes() == b"my own file"
    assert main(["download", "--server", served["url"], "--token", served["token"], "--label", "0",
                 "--out", str(out), "--force"]) == 0
    assert (out / "im1.png").read_bytes() == open(served["enc"][1], "rb").read()


def test_upload_skips_a_non_ciphertext_and_stores_the_rest(served, capsys, tmp_path):
    bad = tmp_path / "holiday.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(bad)
    code, rows, err = _upload(served, capsys, served["enc"][0], str(bad), served["enc"][2])
    assert code == 5
    _one_line_error(err, "holiday.png: not a RIC ciphertext: no RIC metadata")
    assert [r["id"] is not None for r in rows] == [True, False, True]


def test_healthz_of_a_real_server_names_no_software(served):
    r = httpx.get(served["url"] + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"} and "server" not in r.headers


def test_wrong_token_is_a_one_line_error_in_a_real_process(served):
    r = ric_cmd("upload", "--server", served["url"], "--token", "ric_wrong", served["enc"][0])
    assert r.returncode == 21 and r.stdout == ""
    _one_line_error(r.stderr, "refused the token")


def test_unreachable_server(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    assert main(["download", "--server", f"http://127.0.0.1:{dead}", "--token", "t", "--out", str(tmp_path)]) == 20
    _one_line_error(capsys.readouterr().err, "cannot reach the server")
    assert main(["upload", "--server", "ftp://x", "--token", "t", "f.png"]) == 22
    _one_line_error(capsys.readouterr().err, "--server must be an http:// or https:// URL")


def test_serve_refuses_a_busy_port_a_bad_classifier_and_a_bad_database(served, capsys):
    port = served["url"].rsplit(":", 1)[1]
    assert main(["serve", "--db", served["db"], "--port", port, "--classifier", "cifar10", "--cpu"]) == 20
    _one_line_error(capsys.readouterr().err, f"cannot listen on 127.0.0.1:{port}")
    assert main(["serve", "--db", served["db"], "--classifier", "no_such_classifier"]) == 12
    _one_line_error(capsys.readouterr().err, "no shipped classifier model named 'no_such_classifier'")
    assert main(["token", "create", "--db", "nosuchdb://x/y"]) == 23
    out, err = capsys.readouterr()
    assert out == ""
    _one_line_error(err, "no database driver")


@pytest.mark.parametrize("argv, module", [
    (["serve", "--db", "store.db"], "fastapi"),
    (["serve", "--db", "store.db"], "uvicorn"),
    (["serve", "--db", "store.db"], "python_multipart"),
    (["token", "create", "--db", "store.db"], "sqlalchemy"),
    (["upload", "--server", "http://127.0.0.1:9", "--token", "t", "x.png"], "httpx"),
    (["download", "--server", "http://127.0.0.1:9", "--token", "t", "--out", "d"], "httpx"),
])
def test_a_missing_service_dependency_is_one_line_naming_it(argv, module, monkeypatch, tmp_path, capsys):
    """The service's packages are ric's own dependencies; in a partial install that lacks one, a service command
    stops at once (exit 16), before it touches anything, with one line that names the module and ric's
    requirement for it, not an ImportError traceback."""
    monkeypatch.setitem(sys.modules, module, None)         # what an interpreter without the package sees
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 16
    out, err = capsys.readouterr()
    assert out == ""
    need = {"fastapi": "fastapi>=0.110", "uvicorn": "uvicorn>=0.29", "python_multipart": "python-multipart>=0.0.13",
            "sqlalchemy": "sqlalchemy>=2.0", "httpx": "httpx>=0.27"}[module]   # pyproject.toml's dependencies
    _one_line_error(err, f"ric {argv[0]} needs {module}, one of ric's dependencies, which is not installed (a partial "
                         f"install?): pip install '{need}'")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name, module", [("ric.service.client", "httpx"), ("ric.service.store", "sqlalchemy"),
                                          ("ric.service.app", "fastapi")])
def test_importing_a_service_module_without_its_dependency_names_it(name, module, monkeypatch):
    """For library use: the module's import fails with MissingExtraError, a RICError and an ImportError."""
    import importlib

    from ric.errors import MissingExtraError, RICError
    monkeypatch.setitem(sys.modules, module, None)
    for loaded in [m for m in sys.modules if m == name or m.startswith(("ric.service.app", "ric.service.store",
                                                                         "ric.service.client"))]:
        parent, child = loaded.rsplit(".", 1)               # imported afresh below; monkeypatch puts the
        monkeypatch.setattr(sys.modules[parent], child, sys.modules[loaded])    # originals back afterwards
        monkeypatch.delitem(sys.modules, loaded)
    with pytest.raises(MissingExtraError) as e:
        importlib.import_module(name)
    assert isinstance(e.value, RICError) and isinstance(e.value, ImportError) and e.value.exit_code == 16
    assert str(e.value).startswith(f"{name} needs {module}, one of ric's dependencies")


def test_serve_help_shows_every_limit_default(capsys):
    from ric.service.settings import Settings
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag, value in (("--max-side", Settings.max_side), ("--max-file-bytes", Settings.max_file_bytes),
                        ("--max-files", Settings.max_files), ("--max-request-bytes", Settings.max_request_bytes),
                        ("--max-batch", Settings.max_batch), ("--max-batch-pixels", Settings.max_batch_pixels),
                        ("--rate-limit", f"{Settings.rate_limit:g}"), ("--rate-burst", Settings.rate_burst),
                        ("--log-level", "warning")):
        assert re.search(rf"{flag} \S+ ((?!--).)*\(default {value}\b", text), (flag, text)


def _psnr(a, b):
    return psnr_u8(*(np.asarray(Image.open(p).convert("RGB")) for p in (a, b)))


@pytest.mark.slow
def test_full_workflow_with_the_shipped_cifar10_models(tmp_path, capsys, monkeypatch):
    """keygen -> encrypt -> token -> serve -> upload -> download each class -> decrypt: nothing lost, the
    service's labels equal `ric classify` on the ciphertexts, and decryption recovers the plaintexts."""
    monkeypatch.chdir(tmp_path)
    plain = sorted(glob.glob(os.path.join(SAMPLES, "*.png")))[:2]
    assert main(["keygen", "k.key"]) == 0
    assert main(["encrypt", "--scheme", "paper", "-q", "--cpu", "--key", "k.key", "--out", "enc", *plain]) == 0
    capsys.readouterr()
    db = f"sqlite:///{tmp_path}/store.db"
    assert main(["token", "create", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["classify", "--cpu", "--json", *sorted(glob.glob("enc/*.png"))]) == 0
    classified = {os.path.basename(r["file"]): r["label"] for r in json.loads(capsys.readouterr().out)}
    server = Server(db, "cifar10", str(tmp_path / "server.log"))
    try:
        enc = sorted(glob.glob("enc/*.png"))
        assert main(["upload", "--server", server.url, "--token", token, "--json", *enc]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {os.path.basename(r["file"]): r["label"] for r in rows} == classified
        for label in sorted({r["label"] for r in rows}):
            assert main(["download", "--server", server.url, "--token", token, "--label", str(label),
                         "--out", "down"]) == 0
    finally:
        server.stop()
    assert sorted(os.listdir("down")) == sorted(os.path.basename(p) for p in plain)
    assert main(["decrypt", "-q", "--cpu", "--key", "k.key", "--out", "dec", *sorted(glob.glob("down/*.png"))]) == 0
    for p in plain:
        assert _psnr(p, os.path.join("dec", os.path.basename(p))) > 35


def test_upload_anonymous_names_hides_file_names_and_keeps_a_mapping(served, capsys, tmp_path):
    """`--anonymous-names`: the server sees random names only; the local mapping (printed, and in --mapping FILE)
    takes them back to the originals, and `ric download --mapping FILE` restores the original names."""
    mapping = tmp_path / "names.json"
    files = served["enc"][:3]
    code = main(["upload", "--server", served["url"], "--token", served["token"], "--json", "--anonymous-names",
                 "--mapping", str(mapping), *files])
    out, _ = capsys.readouterr()
    assert code == 0
    rows = json.loads(out)
    assert [r["file"] for r in rows] == files
    sent = [r["uploaded_as"] for r in rows]
    assert len(set(sent)) == 3 and all(re.fullmatch(r"[0-9a-f]{16}\.png", n) for n in sent)
    assert json.loads(mapping.read_text()) == dict(zip(sent, files))
    store = open_store(served["db"])
    try:
        stored = {r["id"]: r["file"] for r in store.list_images(after=0, limit=1000)[0]}
    finally:
        store.close()
    assert [stored[r["id"]] for r in rows] == sent
    assert all(stored[r["id"]] not in {os.path.basename(f) for f in files} for r in rows)
    # a second upload adds to the same mapping file instead of replacing it
    assert main(["upload", "--server", served["url"], "--token", served["token"], "--anonymous-names",
                 "--mapping", str(mapping), served["enc"][3]]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[0] == served["enc"][3] and re.fullmatch(r"[0-9a-f]{16}\.png", line[-1])
    assert len(json.loads(mapping.read_text())) == 4
    out_dir = tmp_path / "back"
    assert main(["download", "--server", served["url"], "--token", served["token"], "--mapping", str(mapping),
                 "--out", str(out_dir)]) == 0
    capsys.readouterr()
    for name, orig in json.loads(mapping.read_text()).items():
        assert (out_dir / os.path.basename(orig)).read_bytes() == open(orig, "rb").read()
        assert not (out_dir / name).exists()
