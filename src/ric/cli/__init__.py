"""The `ric` command: a table of sub-commands, each registered by its own module; errors as one line.

A user error (a bad option: exit 2; ric.errors.RICError, an OSError, running out of memory) is one line
`ric: error: ...` on stderr and its exit code; a programming error (KeyError, TypeError, ...) keeps its traceback.
Nothing heavy is imported before a command runs: `ric --help` does not import torch.
"""
from __future__ import annotations

import argparse
import warnings
from importlib import import_module

# module (under ric.) whose add()/add_parsers() registers the commands, and the function that runs them
COMMANDS = (
    ("cli.inspect", "add", None),                       # keygen, classify, info, models, demo
    ("cli.crypt", "add", None),                         # encrypt, decrypt
    ("cli.reencrypt", "add", None),                     # reencrypt
    ("cli.research", "add", None),                      # evaluate, train, train-classifier, data
    ("service.cli", "add_parsers", "handle"),           # serve, token, upload, download, cleanup
    ("lab.attacks.cli", "add_parsers", "run_attack"),   # attack NAME
    ("lab.experiments.cli", "add_parsers", "run_experiment"),   # experiment NAME
    ("lab.bench.cli", "add_parsers", "run_bench"),      # bench NAME
)

# how `ric --help` lists the commands: what a user runs to protect and classify images; what makes the models
# those commands load; and the lab, which measures RIC (attacks, the paper's experiments, benchmarks, evaluate)
GROUPS = (
    ("product commands", ("keygen", "encrypt", "decrypt", "reencrypt", "classify", "info", "models", "demo",
                          "serve", "token", "upload", "download", "cleanup")),
    ("model commands", ("train", "train-classifier", "prepare-classifier", "data")),
    ("lab commands", ("attack", "experiment", "bench", "evaluate")),
)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error (a bad option value, a missing argument) as one line `ric: error: ...` naming
    the command's --help, exit 2; its sub-command parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"ric: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="ric",
                description="Recoverable privacy-preserving image classification: encrypt images into noise-like "
                            "PNGs that ordinary classifiers still label correctly, and recover them with the key.",
                epilog="`ric COMMAND --help` describes a command.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for module, add, run in COMMANDS:
        try:
            mod = import_module(f"ric.{module}")
        except ModuleNotFoundError as e:
            full = f"ric.{module}"
            if not (full == e.name or full.startswith(f"{e.name}.")):
                raise                    # a dependency missing, not the package part itself
            continue                     # a package part not installed (e.g. the lab in a trimmed build)
        before = set(sub.choices)
        getattr(mod, add)(sub)
        if run is not None:
            for name in set(sub.choices) - before:
                sub.choices[name].set_defaults(run=getattr(mod, run))
    _group_commands(ap, sub)
    return ap


def _group_commands(ap: argparse.ArgumentParser, sub) -> None:
    """List the commands in `ric --help` under the titles of GROUPS (a command in no group: "other commands")."""
    listed = {a.dest: a for a in sub._choices_actions}
    sub.help = argparse.SUPPRESS         # the groups below list the commands instead of one flat list
    ap.usage = f"{ap.prog} [-h] COMMAND ..."   # (a suppressed action leaves the usage line too)
    rest = [name for name in listed if not any(name in names for _, names in GROUPS)]
    for title, names in (*GROUPS, ("other commands", rest)):
        actions = [listed[n] for n in names if n in listed]
        if actions:
            ap.add_argument_group(title)._group_actions.extend(actions)


def _out_of_memory(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or (
        isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


def main(argv=None) -> int:
    from .report import fail
    args = build_parser().parse_args(argv)
    from ..allocator import keep_freed_memory
    keep_freed_memory()
    warnings.formatwarning = lambda msg, cat, *a, **k: f"ric: warning: {msg}\n"
    from ..errors import RICError
    try:
        return args.run(args)
    except RICError as e:
        return fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except OSError as e:
        if e.errno is None:              # raised by us with a message (a dataset or run folder not found)
            return fail(str(e), 2)
        return fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "), 1)
    except (MemoryError, RuntimeError) as e:
        if not _out_of_memory(e):
            raise
        from ..errors import OutOfMemory
        return fail("out of memory; try a smaller --batch-size or --window, or smaller images (--resize)",
                    OutOfMemory.exit_code)

