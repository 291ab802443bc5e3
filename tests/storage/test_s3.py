"""s3:// inputs and outputs against a real S3 server (SeaweedFS): the guarantees of local files — whole objects or
none, never overwritten without --force, --resume, one-line errors with the table's codes."""
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

import ric
from ric.cli import main
from ric.errors import OutputExistsError, OutputWriteError
from ric.storage import location
from ric.storage import s3 as s3mod

SAMPLES = os.path.join(os.path.dirname(ric.__file__), "samples")
NAMES = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".png"))[:3]


@pytest.fixture
def plain(s3, tmp_path, monkeypatch):
    """Three sample PNGs under s3://BUCKET/plain/, a key in the cwd; the client."""
    monkeypatch.chdir(tmp_path)
    assert main(["keygen", "k.key"]) == 0
    c = s3.client()
    for n in NAMES:
        c.upload_file(os.path.join(SAMPLES, n), s3.bucket, f"plain/{n}")
    return c


def _objects(c, bucket, prefix):
    got = c.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: o["ETag"] for o in got}


def test_round_trip_through_s3_no_overwrite_and_resume(s3, plain, capsys):
    b = s3.bucket
    assert main(["encrypt", "--key", "k.key", "--out", f"s3://{b}/enc", "--json", "-q", f"s3://{b}/plain/"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["out"] for r in rows) == [f"s3://{b}/enc/{n}" for n in NAMES]
    enc = _objects(plain, b, "enc/")
    assert sorted(enc) == NAMES

    # the cloud labels the ciphertexts straight from the bucket, as encrypt reported
    assert main(["classify", "--json", "-q", f"s3://{b}/enc"]) == 0
    labels = {r["file"]: r["label"] for r in json.loads(capsys.readouterr().out)}
    assert labels == {r["out"]: r["label"] for r in rows}

    assert main(["decrypt", "--key", "k.key", "--out", f"s3://{b}/dec/", "-q", f"s3://{b}/enc/"]) == 0
    for n in NAMES:       # the sealed default gives back the very pixels
        body = plain.get_object(Bucket=b, Key=f"dec/{n}")["Body"].read()
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))), np.asarray(Image.open(f"{SAMPLES}/{n}")))

    capsys.readouterr()
    assert main(["encrypt", "--key", "k.key", "--out", f"s3://{b}/enc", "-q", f"s3://{b}/plain/"]) == 13
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(NAMES) and all("already exists; refusing to overwrite" in e for e in err)
    assert _objects(plain, b, "enc/") == enc             # nothing replaced

    assert main(["encrypt", "--key", "k.key", "--out", f"s3://{b}/enc", "--resume", f"s3://{b}/plain/"]) == 0
    assert f"encrypted 0, skipped {len(NAMES)} already complete, failed 0" in capsys.readouterr().err
    assert _objects(plain, b, "enc/") == enc


def test_resume_never_replaces_an_incomplete_object(s3, plain, capsys):
    b = s3.bucket
    plain.put_object(Bucket=b, Key=f"enc/{NAMES[0]}", Body=b"\x89PNG half an upload")
    code = main(["encrypt", "--key", "k.key", "--out", f"s3://{b}/enc", "--resume", "-q", f"s3://{b}/plain/"])
    assert code == 13
    assert "is not a complete output of this run" in capsys.readouterr().err
    assert plain.get_object(Bucket=b, Key=f"enc/{NAMES[0]}")["Body"].read() == b"\x89PNG half an upload"
    assert sorted(_objects(plain, b, "enc/")) == NAMES          # the two others were written


def test_the_server_refuses_to_replace_an_object_without_force(s3):
    loc = location(f"s3://{s3.bucket}/out/a.png")
    loc.write_new(b"first")
    with pytest.raises(OutputExistsError):       # the server's If-None-Match, not a check made before
        loc.write_new(b"second")
    assert loc.read_bytes() == b"first"
    loc.write_new(b"third", force=True)
    assert loc.read_bytes() == b"third"


def test_a_multipart_upload_is_whole_or_absent(s3, monkeypatch):
    monkeypatch.setattr(s3mod, "MULTIPART_BYTES", 5 << 20)
    data = bytes(range(256)) * (12 << 12)            # 12 MiB: three parts
    ok = location(f"s3://{s3.bucket}/big/ok.bin")
    ok.write_new(data)
    assert ok.read_bytes() == data

    c = s3mod.client()
    real, calls = c.upload_part, []

    def fail_second(**kw):
        calls.append(kw["PartNumber"])
        if kw["PartNumber"] == 2:
            raise ConnectionError("connection reset mid-upload")
        return real(**kw)
    monkeypatch.setattr(c, "upload_part", fail_second)
    bad = location(f"s3://{s3.bucket}/big/bad.bin")
    with pytest.raises(OutputWriteError, match="cannot write s3://.*/big/bad.bin"):
        bad.write_new(data)
    assert calls == [1, 2]
    assert not bad.exists()
    assert s3.client().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_errors_are_one_line_with_the_tables_codes(s3, plain, capsys, monkeypatch):
    b = s3.bucket
    enc = ["encrypt", "--key", "k.key", "-q"]
    assert main([*enc, "--out", f"s3://{b}/enc", f"s3://{b}/plain/missing.png"]) == 4
    assert capsys.readouterr().err.strip() == f"ric: error: cannot read s3://{b}/plain/missing.png: no such object"
    assert main([*enc, "--out", "s3://no-such-bucket/enc", f"s3://{b}/plain/"]) == 17
    assert capsys.readouterr().err.strip() == ("ric: error: cannot write in s3://no-such-bucket/enc: the bucket "
                                               "no-such-bucket does not exist")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert main([*enc, "--out", f"s3://{b}/enc", f"s3://{b}/plain/{NAMES[0]}"]) == 17
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ric: error: cannot write in s3://{b}/enc: access denied") and "\n" not in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")       # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main([*enc, "--out", "enc", f"s3://{b}/plain/{NAMES[0]}"]) == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ric: error: cannot read s3://{b}/plain/{NAMES[0]}: the S3 endpoint cannot be reached")
    assert "\n" not in err and not os.path.exists("enc/" + NAMES[0])


@pytest.fixture(scope="module")
def full_server(tmp_path_factory):
    """A SeaweedFS server with too few volumes: the first bucket written to takes them all, and every upload to
    another bucket fails (HTTP 500, "no writable volumes")."""
    from s3_support import start, stop
    server = start(str(tmp_path_factory.mktemp("seaweedfs-full")), volume_max=5)
    c = server.client()
    c.create_bucket(Bucket="filler")
    c.put_object(Bucket="filler", Key="x", Body=b"takes the volumes")
    yield server
    stop(server)


def test_an_upload_the_server_fails_is_one_line_exit_17_and_leaves_nothing(full_server, tmp_path, monkeypatch,
                                                                          capsys):
    for k, v in full_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.chdir(tmp_path)
    c = full_server.client()
    c.create_bucket(Bucket="full")
    assert main(["keygen", "k.key"]) == 0
    capsys.readouterr()
    code = main(["encrypt", "--key", "k.key", "-q", "--out", "s3://full/enc", os.path.join(SAMPLES, NAMES[0])])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 17 and len(err) == 1
    assert err[0] == (f"ric: error: {SAMPLES}/{NAMES[0]}: cannot write s3://full/enc/{NAMES[0]}: the S3 server "
                      "answered InternalError: We encountered an internal error, please try again.")
    assert c.list_objects_v2(Bucket="full").get("KeyCount", 0) == 0
