"""The Ray engine (`--engine ray`, the `ray` extra): the file engine's jobs spread over a Ray cluster with Ray Data.

    ric encrypt --key k.key --engine ray --out s3://b/enc s3://b/plain/               # a local cluster, 2 workers
    ric decrypt --key k.key --engine ray --ray-address ray://head:10001 --workers 16 --out s3://b/dec s3://b/enc/

The driver (the `ric` process) lists the inputs and checks the plan (output collisions, outputs that exist), then
Ray Data feeds batches of input paths to an actor pool: each actor builds the scheme once (its models loaded once
per actor) and runs the file engine (ric.files.engine.FileEngine) on its batch — reading, the scheme's work and
writing, with every guarantee of local runs: whole outputs or none, never an overwrite without --force. The driver
prints each result as it comes back.

Fault tolerance: an actor that dies (killed, out of memory, its node lost) is restarted by Ray and its batch is run
again. The rerun finds the outputs the dead actor finished and skips them as complete (the workers always run in
--resume mode; outputs that existed before the job were refused by the driver's plan unless --force or --resume),
and an output it was writing is absent (writes are whole-object), so every input ends with exactly one complete
output. The temporary file a killed actor was writing in a local folder is removed when the job ends.

Trust model: the key is part of each actor's constructor arguments, so it travels (serialised, not encrypted by
Ray unless the cluster uses TLS) through the cluster's control store to every worker process, and sits in their
memory for the job. Whoever controls the cluster — its nodes, its head's GCS, its dashboard and job API — can read
the key. Run it only on a cluster you trust with the key (as you trust the machine that holds the key file); the
AWS_* variables set for the driver are passed to the workers the same way.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import OutputExistsError, RICError, require_extra
from ..storage import location
from .engine import CIPHERTEXT_EXTS, FileEngine
from .plan import FileResult, output_base
from .stream import IMAGE_EXTS, Skipped, iter_inputs

WORKERS = 2
WORKER_CPUS = 0.5     # on 2 cores, whole CPUs per actor leave none to Ray Data's own tasks, and the job hangs
BATCH = 8             # input paths per actor call: a lost batch is this many images redone


@dataclass
class Job:
    """What every worker does: `kind` "encrypt" or "decrypt"; `make()` builds the scheme (encrypt) or the resolver
    (decrypt) inside the worker; the key; the output folder and the user's flags (workers always resume unless
    `force`: a batch run again after a worker died skips what it finished)."""
    kind: str
    make: Callable[[], Any]
    key: Any
    out_dir: str
    force: bool = False
    resume: bool = False
    resize: tuple | None = None
    window: int = 256
    threads: int = 1


@dataclass
class Cluster:
    """Where the job runs: `address` (None: a new local cluster of this machine's CPUs), how many actors and how
    many CPUs each reserves (fractions allowed), input paths per actor call."""
    address: str | None = None
    workers: int = WORKERS
    worker_cpus: float = WORKER_CPUS
    batch: int = BATCH
    show_progress: bool = True
    env: dict = field(default_factory=lambda: {k: v for k, v in os.environ.items() if k.startswith("AWS_")})


class Worker:
    """One actor of the pool: the scheme built once, then a FileEngine run per batch of paths."""

    def __init__(self, job: Job):
        import torch
        torch.set_num_threads(job.threads)
        self.job, self.scheme = job, job.make()
        self.engine = FileEngine(window=job.window, show_progress=False)

    def __call__(self, batch: dict) -> dict:
        j, paths = self.job, [str(p) for p in batch["path"]]
        if j.kind == "encrypt":
            results = self.engine.encrypt(self.scheme, j.key, paths, j.out_dir, force=j.force, resize=j.resize,
                                          resume=not j.force)
        else:
            results = self.engine.decrypt(self.scheme, j.key, paths, j.out_dir, force=j.force, resume=not j.force)
        rows = [to_row(r) for r in results]
        return {k: [r[k] for r in rows] for k in ROW}


ROW = ("src", "out", "label", "cls", "info", "error", "code")


def to_row(r: FileResult) -> dict:
    return {"src": r.src, "out": r.out or "", "label": -1 if r.label is None else int(r.label), "cls": r.cls or "",
            "info": json.dumps(r.info, default=str), "error": "" if r.error is None else str(r.error),
            "code": 0 if r.error is None else int(r.error.exit_code)}


def from_row(d: dict) -> FileResult:
    err = None
    if d["code"]:
        err = RICError(d["error"])
        err.exit_code = int(d["code"])
    label = int(d["label"])
    return FileResult(d["src"], d["out"] or None, None if label < 0 else label, err, json.loads(d["info"]),
                      d["cls"] or None)


def plan(job: Job, inputs: list[str], skipped: list, skipped_files: Skipped) -> tuple[list[str], list[FileResult]]:
    """(the paths the workers get, the results settled here): inputs whose output names collide (by stem: a
    decryption's extension is known only once its ciphertext is read) and, without --force or --resume, inputs
    with an output of that stem already in the output folder (one listing), are refused here."""
    exts = IMAGE_EXTS if job.kind == "encrypt" else CIPHERTEXT_EXTS
    taken: dict[str, str] = {}
    if not (job.force or job.resume):
        for name, _ in location(job.out_dir).files():
            stem, ext = os.path.splitext(name)
            if ext and (job.kind == "decrypt" or ext == ".png"):
                taken.setdefault(stem, os.path.join(job.out_dir, name))
    todo, settled, seen = [], [], {}
    for p in iter_inputs(inputs, exts, skipped, skipped_files):
        stem = os.path.basename(output_base(p, job.out_dir))
        if stem in seen:
            settled.append(FileResult(p, error=OutputExistsError(
                f"{p}: its output {output_base(p, job.out_dir)} would collide with that of {seen[stem]}")))
        elif stem in taken:
            settled.append(FileResult(p, error=OutputExistsError(
                f"{taken[stem]} already exists; refusing to overwrite (use --force, or --resume to skip it)")))
        else:
            seen[stem] = p
            todo.append(p)
    return todo, settled


def connect(cluster: Cluster) -> None:
    """Join the cluster at `cluster.address` (or RAY_ADDRESS), or start a local one (never an unrelated cluster
    that happens to run on this machine)."""
    require_extra("--engine ray", "ray", "ray")
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")     # the driver's own C++ log lines on stderr
    import ray
    import ray.data  # noqa: F401 — its loggers exist once it is imported
    for name in [n for n in logging.root.manager.loggerDict if n == "ray" or n.startswith("ray.")]:
        logging.getLogger(name).setLevel(logging.ERROR)
    if ray.is_initialized():
        return
    address = cluster.address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": False, "logging_level": "ERROR"}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **quiet)


def run(job: Job, inputs: list[str], cluster: Cluster, skipped: list | None = None,
        skipped_files: Skipped | None = None) -> Iterator[FileResult]:
    """Every input's FileResult, as the workers finish them (in no set order): the refused ones first."""
    todo, settled = plan(job, inputs, [] if skipped is None else skipped,
                         Skipped() if skipped_files is None else skipped_files)
    yield from settled
    if not todo:
        return
    connect(cluster)
    import ray
    from tqdm import tqdm
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False
    batch = max(1, min(cluster.batch, -(-len(todo) // cluster.workers)))     # every worker gets some work
    ds = ray.data.from_items([{"path": p} for p in todo], override_num_blocks=-(-len(todo) // batch))
    out = ds.map_batches(Worker, fn_constructor_args=(job,), batch_size=batch,
                         compute=ray.data.ActorPoolStrategy(size=cluster.workers), num_cpus=cluster.worker_cpus,
                         runtime_env={"env_vars": cluster.env} if cluster.env else None)
    with tqdm(total=len(todo), desc=f"{job.kind} (ray, {cluster.workers} workers)", unit="img", file=sys.stderr,
              disable=not cluster.show_progress, leave=False, mininterval=0.5) as bar:
        written = []
        for row in out.iter_rows():
            bar.update(1)
            written.append(row["out"])
            yield from_row(row)
    _sweep(written)


def _sweep(outputs: list[str]) -> None:
    """A worker killed while writing leaves its temporary file beside the output (local folders; an object store
    keeps no partial object): once the job is over, nothing writes them any more."""
    from ..io.atomic import remove_temporaries
    for path in outputs:
        if path and "://" not in path:
            remove_temporaries(path)
