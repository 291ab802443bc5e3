"""Ciphertext bytes in S3 (SeaweedFS), records in SQL: what an upload and a delete leave, crash consistency under
SIGKILL, and the cleanup pass."""
import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ric.service.blobs import S3Blobs
from ric.service.store import NewImage, Principal, QuotaExceeded, open_store

pytest.importorskip("sqlalchemy")


def _image(i: int) -> NewImage:
    data = f"ciphertext {i} ".encode() * 50
    return NewImage(f"im{i}.png", i % 10, "sealed", 32, 32, hashlib.sha256(data).hexdigest(), "cifar10", {}, data)


def _objects(s3, prefix="store/"):
    got = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in got)


@pytest.fixture
def store(s3, tmp_path):
    st = open_store(str(tmp_path / "db.sqlite"), f"s3://{s3.bucket}/store")
    yield st
    st.close()


def test_bytes_go_to_objects_under_random_names_and_come_back(s3, store):
    recs = store.add_images([_image(1), _image(2)])
    objs = _objects(s3)
    assert len(objs) == 2 and all(len(k) == len("store/") + 32 for k in objs)      # nothing of the image in a name
    for r, i in zip(recs, (1, 2)):
        name, digest, data = store.get_content(r["id"])
        assert (name, data, r["size"]) == (f"im{i}.png", _image(i).data, len(_image(i).data))
    assert store.delete_image(recs[0]["id"])
    assert store.get_content(recs[0]["id"]) is None and len(_objects(s3)) == 1
    assert store.cleanup(grace=0) == {"checked": 1, "removed": 0}


def test_a_refused_upload_leaves_no_object(s3, store):
    tok = store.create_token("q", max_images=1)
    who = store.check_token(tok)
    store.add_images([_image(1)], who.id, who)
    with pytest.raises(QuotaExceeded):
        store.add_images([_image(2)], who.id, Principal(who.id, max_images=1))
    assert len(_objects(s3)) == 1


def test_cleanup_removes_objects_without_a_record_after_the_grace_period(s3, store):
    kept = store.add_images([_image(1)])[0]
    blobs = S3Blobs(f"s3://{s3.bucket}/store")
    orphan = blobs.put(b"an upload killed before its rows were committed")
    gone = store.add_images([_image(2)])[0]
    from sqlalchemy import delete
    from sqlalchemy.orm import Session

    from ric.service.store import ImageRow
    with Session(store.engine) as s, s.begin():         # a delete killed after its commit, before the object went
        s.execute(delete(ImageRow).where(ImageRow.id == gone["id"]))
    assert len(_objects(s3)) == 3
    assert store.cleanup(grace=3600) == {"checked": 0, "removed": 0}                  # too young: maybe in flight
    assert store.cleanup(grace=0) == {"checked": 3, "removed": 2}
    assert orphan not in _objects(s3) and len(_objects(s3)) == 1
    assert store.get_content(kept["id"])[2] == _image(1).data


WRITER = textwrap.dedent("""
    import hashlib, sys
    from ric.service.store import NewImage, open_store
    st = open_store(sys.argv[1], sys.argv[2])
    for i in range(10_000):
        data = f"ciphertext {i} ".encode() * 50
        [r] = st.add_images([NewImage(f"im{i}.png", 0, "sealed", 32, 32, hashlib.sha256(data).hexdigest(), "c", {},
                                      data)])
        print(r["id"], i, flush=True)      # acknowledged
""")


@pytest.mark.parametrize("acks", [7, 23])
def test_sigkill_mid_upload_loses_no_acknowledged_upload_and_cleanup_leaves_no_orphan(s3, tmp_path, acks):
    db, blobs = str(tmp_path / "db.sqlite"), f"s3://{s3.bucket}/store"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen([sys.executable, "-c", WRITER, db, blobs], stdout=subprocess.PIPE, env=env, text=True)
    got = [p.stdout.readline().split() for _ in range(acks)]
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    st = open_store(db, blobs)
    try:
        for image_id, i in got:                       # every acknowledged upload is there, bytes and all
            assert st.get_content(int(image_id))[2] == f"ciphertext {i} ".encode() * 50
        rows = st.count()
        assert rows >= acks and len(_objects(s3)) >= rows
        st.cleanup(grace=0)
        assert len(_objects(s3)) == st.count() == rows            # no object without a record, no record lost
    finally:
        st.close()
