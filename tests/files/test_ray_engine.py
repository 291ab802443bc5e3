"""The Ray engine (--engine ray): the driver's plan, rows to results, and a job on a local Ray cluster (2 CPUs) that
survives a worker killed mid-job with exactly one complete output per input."""
import functools
import io
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest
from PIL import Image

import ric
from ric.errors import OutputExistsError, WrongKeyError
from ric.files.plan import FileResult, ciphertext_of
from ric.files.ray_engine import Cluster, Job, from_row, plan, run, to_row
from ric.files.stream import Skipped
from ric.schemes import container, make_scheme

SAMPLES = os.path.join(os.path.dirname(ric.__file__), "samples")


def _job(out, **kw):
    return Job("encrypt", functools.partial(make_scheme, "sealed"), None, str(out), **kw)


@pytest.fixture
def folder(tmp_path):
    """40 CIFAR-10 sample PNGs (the 10 shipped ones, each under four names)."""
    d = tmp_path / "plain"
    d.mkdir()
    names = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".png"))
    for k in range(4):
        for n in names:
            shutil.copy(os.path.join(SAMPLES, n), d / f"{k}_{n}")
    return d


def test_plan_refuses_collisions_and_existing_outputs_unless_resume_or_force(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir(), out.mkdir()
    for n in ("a.png", "a.jpg", "b.png", "c.png"):
        (src / n).write_bytes(b"x")
    (out / "b.png").write_bytes(b"old")
    todo, settled = plan(_job(out), [str(src / n) for n in ("a.png", "a.jpg", "b.png", "c.png")], [], Skipped())
    assert todo == [str(src / "a.png"), str(src / "c.png")]
    assert [type(r.error) for r in settled] == [OutputExistsError, OutputExistsError]
    assert "would collide with that of" in str(settled[0].error) and "already exists" in str(settled[1].error)
    for flags in ({"resume": True}, {"force": True}):
        todo, settled = plan(_job(out, **flags), [str(src / "b.png")], [], Skipped())
        assert todo == [str(src / "b.png")] and settled == []


def test_a_result_survives_the_trip_through_a_row():
    e = WrongKeyError("s3://b/enc/x.png: wrong key")
    for r in (FileResult("s3://b/x.png", "s3://b/enc/x.png", 3, None, {"skipped": True}, "cat"),
              FileResult("s3://b/enc/x.png", error=e)):
        back = from_row(to_row(r))
        assert (back.src, back.out, back.label, back.cls, back.info) == (r.src, r.out, r.label, r.cls, r.info)
        assert (back.error is None) == (r.error is None)
        if r.error is not None:
            assert (str(back.error), back.error.exit_code) == (str(e), 6)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _map_workers(ray) -> list[int]:
    """Pids of this cluster's Ray Data actors (children of its raylet whose title is ray::MapWorker...)."""
    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    found = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::MapWorker") and _ppid(int(d)) == raylet:
                    found.append(int(d))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_exactly_one_complete_output_per_input(ray_cluster, folder, tmp_path, key):
    out = tmp_path / "enc"
    job = _job(out)
    job.key = key
    inputs = sorted(os.listdir(folder))
    results, failed = [], []

    def drive():
        try:
            results.extend(run(job, [str(folder)], Cluster(workers=2, worker_cpus=0.5, batch=2,
                                                           show_progress=False)))
        except BaseException as e:      # noqa: BLE001 — reported by the assertion below
            failed.append(e)
    t = threading.Thread(target=drive)
    t.start()
    killed, deadline = None, time.monotonic() + 240
    while killed is None and t.is_alive() and time.monotonic() < deadline:
        done = [n for n in os.listdir(out)] if out.exists() else []
        workers = _map_workers(ray_cluster)
        if done and workers:
            os.kill(workers[0], signal.SIGKILL)
            killed = (workers[0], len(done))
        time.sleep(0.05)
    t.join(300)
    assert not t.is_alive() and not failed, failed
    assert killed is not None and killed[1] < len(inputs), "the worker was not killed mid-job"
    assert all(r.error is None for r in results), [str(r.error) for r in results if r.error]
    assert sorted(os.path.basename(r.src) for r in results) == inputs          # one result per input
    assert sorted(os.listdir(out)) == inputs                                    # one output each, no temporaries
    owns = ciphertext_of(make_scheme("sealed"), key)
    assert all(owns(str(out / n)) for n in inputs)                            # every one complete
    scheme = make_scheme("sealed")
    for n in inputs[:3]:
        [(_, o)] = list(scheme.decrypt(key, [scheme.prepare(key, container.read(str(out / n)))]))
        got = np.asarray(Image.open(io.BytesIO(o.data)).convert("RGB"))
        assert np.array_equal(got, np.asarray(Image.open(folder / n).convert("RGB")))
