"""Printing results: one line per file (tab-separated, or JSON), errors as `ric: error: FILE: why` on stderr."""
from __future__ import annotations

import json
import sys

FIELDS = ("file", "out", "label", "class")


def fail(msg: str, code: int = 2) -> int:
    print(f"ric: error: {msg}", file=sys.stderr, flush=True)
    return code


def error_line(r) -> str:
    msg = str(r.error)
    return msg if r.src in msg else f"{r.src}: {msg}"


def row(r, fields=FIELDS) -> dict:
    d = {"file": r.src, "out": r.out, "label": r.label, "class": r.cls}
    out = {k: d[k] for k in fields}
    if r.error is not None:
        out["error"] = str(r.error)
    return out


def text_line(r, fields=FIELDS) -> str:
    """Every field, `-` where a scheme records none (the sealed scheme stores no label), so columns line up."""
    d = row(r, fields)
    return "\t".join("-" if d[k] is None else str(d[k]) for k in fields)


class Reporter:
    """Prints results as they come (`stream`: JSON lines) or at the end (a JSON list); counts for the summary."""

    def __init__(self, as_json: bool, stream: bool, fields=FIELDS, progress: bool = False):
        self.as_json, self.stream, self.fields, self.progress = as_json, stream, fields, progress
        self.rows: list[dict] = []
        self.code = 0
        self.counts = {"done": 0, "skipped": 0, "failed": 0}

    def add(self, r) -> None:
        if r.error is not None:
            self._error(f"ric: error: {error_line(r)}")
            self.code = self.code or r.error.exit_code
            self.counts["failed"] += 1
        else:
            self.counts["skipped" if r.skipped else "done"] += 1
        if self.as_json:
            d = row(r, self.fields)
            if self.stream:
                print(json.dumps(d | {"skipped": r.skipped}), flush=True)
            else:
                self.rows.append(d)
        elif r.error is None and not r.skipped:
            print(text_line(r, self.fields), flush=True)

    def _error(self, line: str) -> None:
        """A progress bar may be drawn on stderr: tqdm clears it around the line, and in a file (where the bar's
        updates end in a carriage return, not a newline) the line starts on a line of its own."""
        if not self.progress:
            print(line, file=sys.stderr, flush=True)
            return
        from tqdm import tqdm
        tqdm.write(line if sys.stderr.isatty() else "\n" + line, file=sys.stderr)

    def close(self) -> int:
        if self.as_json and not self.stream:
            print(json.dumps(self.rows, indent=1))
        return self.code


def warn_skipped(engine) -> None:
    """One warning line per sub-folder the file engine did not enter."""
    for folder in engine.skipped_folders:
        print(f"ric: warning: {folder}: a sub-folder, not entered (folders are not walked recursively)",
              file=sys.stderr)
