"""The `ric experiment` sub-command (argument parsing and dispatch; torch loads only when one runs)."""
from __future__ import annotations

import time


def add_parsers(sub) -> None:
    from . import EXPERIMENTS
    p = sub.add_parser("experiment", help="reproduce a table/figure of the paper (" + ", ".join(EXPERIMENTS) + ")",
                       description="Experiments: " + "; ".join(f"{k}: {v[1]}" for k, v in EXPERIMENTS.items()))
    p.add_argument("name", metavar="NAME", help="one of: " + ", ".join(EXPERIMENTS))
    p.add_argument("--budget", type=float, default=120.0, metavar="SECONDS",
                   help="training wall time per trained model (default 120)")
    p.add_argument("--data", action="append", default=[], metavar="SPEC",
                   help="dataset short name (cifar10, mnist, celeba64) or .npz path; repeatable (default: the "
                        "experiment's own choice)")
    p.add_argument("--out", default="runs/experiments", metavar="DIR",
                   help="folder for NAME.json, NAME.md and per-part results (default runs/experiments)")
    p.add_argument("--resume", action="store_true", help="skip parts whose result JSON already exists")
    p.add_argument("--n-eval", type=int, default=200, help="test images per evaluation (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def run_experiment(args) -> int:
    from . import get
    mod = get(args.name)
    if args.budget <= 0:
        raise ValueError("--budget must be positive")
    if args.n_eval < 1:
        raise ValueError("--n-eval must be at least 1")
    import torch
    torch.set_num_threads(max(1, args.threads))
    from .common import Context
    ctx = Context(args.name, args.out, args.budget, list(args.data), args.resume, args.device, not args.quiet,
                  args.n_eval, args.seed)
    t = time.time()
    mod.run(ctx)
    print(f"ric: experiment {args.name} done in {time.time() - t:.0f} s; tables in "
          f"{args.out}/{args.name}.md and .json")
    return 0
