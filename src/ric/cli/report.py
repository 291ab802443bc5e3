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
    """Prints results as they come (`stream`: JSON lines) or at the end (a JSON list); counts for the summary.

    Exit code: 0 when every file succeeded (or was skipped as complete); otherwise the code of the first failure
    reported (the first `ric: error:` line, in input order within each window), whatever the others' are;
    `failed()` names how many failed with each code."""

    def __init__(self, as_json: bool, stream: bool, fields=FIELDS, progress: bool = False):
        self.as_json, self.stream, self.fields, self.progress = as_json, stream, fields, progress
        self.rows: list[dict] = []
        self.code = 0
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.by_code: dict[int, int] = {}

    def add(self, r) -> None:
        if r.error is not None:
            self._error(f"ric: error: {error_line(r)}")
            self.code = self.code or r.error.exit_code
            self.counts["failed"] += 1
            self.by_code[r.error.exit_code] = self.by_code.get(r.error.exit_code, 0) + 1
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

    def failed(self) -> str:
        """`N` failures, and with how many of each exit code: `3 (exit 5: 2, exit 6: 1)`."""
        n = self.counts["failed"]
        if not n:
            return "0"
        return f"{n} (" + ", ".join(f"exit {c}: {k}" for c, k in sorted(self.by_code.items())) + ")"

    def close(self) -> int:
        if self.as_json and not self.stream:
            print(json.dumps(self.rows, indent=1))
        return self.code


IMAGES = ("an image file (by its extension)", "image files (by their extension)")
CIPHERTEXTS = ("a .png ciphertext", ".png ciphertexts")


def warn_skipped(engine, kind: tuple[str, str] = IMAGES) -> None:
    """One warning line per sub-folder the file engine did not enter, and one for the files in a folder it left
    out because they are not `kind` (singular, plural; the first few files named)."""
    for folder in engine.skipped_folders:
        print(f"ric: warning: {folder}: a sub-folder, not entered (folders are not walked recursively)",
              file=sys.stderr)
    files = getattr(engine, "skipped_files", None)
    if files:
        n = len(files)
        more = f" and {n - len(files.names)} more" if n > len(files.names) else ""
        what = f"{n} files that are not {kind[1]}" if n > 1 else f"1 file that is not {kind[0]}"
        print(f"ric: warning: skipped {what}: {', '.join(files.names)}{more}", file=sys.stderr)
