"""Outputs: written through an O_EXCL temporary file in the target folder, never replacing anything without force,
plaintexts with mode 0600; model identities from (unauthenticated) metadata are plain names before any lookup."""
import os
import stat

import pytest

from ric import hub
from ric.errors import OutputExistsError
from ric.io import atomic


def test_write_atomic_leaves_no_temporary_file_and_refuses_existing(tmp_path):
    p = tmp_path / "out.png"
    atomic.write_atomic(str(p), b"one")
    assert p.read_bytes() == b"one" and os.listdir(tmp_path) == ["out.png"]
    with pytest.raises(OutputExistsError):
        atomic.write_atomic(str(p), b"two")
    assert p.read_bytes() == b"one" and os.listdir(tmp_path) == ["out.png"]
    atomic.write_atomic(str(p), b"two", force=True)
    assert p.read_bytes() == b"two" and os.listdir(tmp_path) == ["out.png"]


def test_write_atomic_does_not_follow_a_planted_symlink(tmp_path):
    """The old writer opened `<path>.part<pid>` with open(..., "wb"), which follows a symlink planted there; the
    target of a dangling symlink at the output path must not be created either."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "out.png"
    os.symlink(victim, tmp_path / f"out.png.part{os.getpid()}")
    atomic.write_atomic(str(out), b"data")
    assert victim.read_bytes() == b"precious" and out.read_bytes() == b"data"
    dangling = tmp_path / "d.png"
    os.symlink(tmp_path / "nowhere", dangling)
    with pytest.raises(OutputExistsError):
        atomic.write_atomic(str(dangling), b"data")
    assert not (tmp_path / "nowhere").exists()


def test_write_atomic_mode(tmp_path):
    atomic.write_atomic(str(tmp_path / "a"), b"x", mode=0o600)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o600
    atomic.write_atomic(str(tmp_path / "b"), b"x")
    assert stat.S_IMODE(os.stat(tmp_path / "b").st_mode) == 0o666 & ~atomic._umask()


@pytest.mark.parametrize("name", ["../x", "a/b", "/etc/passwd", "..", "a..b", "", "x" * 65, "a\nb", "-x", "a\\b"])
def test_non_plain_names_are_refused(name):
    assert not hub.is_plain_name(name)
    assert hub.weights_for(f"{name}@0123456789ab", "ric") is None


@pytest.mark.parametrize("name", ["cifar10", "celeba64", "mnist_cnn", "resnet18-v1.2"])
def test_plain_names(name):
    assert hub.is_plain_name(name)


def test_weights_for_never_builds_a_path_from_a_traversal_identity(tmp_path, monkeypatch):
    """A file planted where `retired/../../evil@DIGEST_ric.safetensors` points is not found through the identity."""
    retired = tmp_path / "pkg" / "weights" / "retired"
    retired.mkdir(parents=True)
    (tmp_path / "evil@0123456789ab_ric.safetensors").write_bytes(b"not weights")
    monkeypatch.setattr(hub, "RETIRED_DIR", str(retired))
    assert os.path.isfile(os.path.join(str(retired), "../../../evil@0123456789ab_ric.safetensors"))
    assert hub.weights_for("../../../evil@0123456789ab", "ric") is None
    assert hub.weights_for("cifar10@zz", "ric") is None                # a digest is 12 hex digits
    assert hub.weights_for("cifar10@0123456789ab", "ric") == "cifar10"  # plain: the shipped name


def test_remove_temporaries_takes_only_write_atomics_own_leftovers(tmp_path):
    """A process killed mid-write leaves `.NAME.XXXXXXXX.part`; only those of that output go, never the output,
    another output's temporaries, a look-alike with another middle, or a link."""
    import tempfile

    from ric.io.atomic import remove_temporaries, write_atomic
    out = tmp_path / "a.png"
    write_atomic(str(out), b"done")
    left = [tempfile.mkstemp(dir=tmp_path, prefix=".a.png.", suffix=".part") for _ in range(2)]
    for fd, _ in left:
        os.close(fd)
    other_fd, other = tempfile.mkstemp(dir=tmp_path, prefix=".b.png.", suffix=".part")
    os.close(other_fd)
    (tmp_path / ".a.png.not-ours.part").write_bytes(b"x")
    os.symlink(other, tmp_path / ".a.png.abcdefgh.part")
    assert remove_temporaries(str(out)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".a.png.abcdefgh.part", ".a.png.not-ours.part", os.path.basename(other), "a.png"])
    assert out.read_bytes() == b"done" and remove_temporaries(str(tmp_path / "missing" / "x.png")) == 0
