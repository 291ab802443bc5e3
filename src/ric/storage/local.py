"""Files on the local disk (or any mounted file system): the safe writes of ric.io.atomic."""
from __future__ import annotations

import os

from ..io.atomic import check_out_folder, ensure_folder, write_atomic


class LocalLocation:
    def __init__(self, path: str):
        self.path = path

    def is_folder(self) -> bool:
        return os.path.isdir(self.path)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def read_bytes(self, limit: int | None = None) -> bytes:
        with open(self.path, "rb") as f:
            return f.read() if limit is None else f.read(limit + 1)

    def head_bytes(self, n: int) -> bytes:
        with open(self.path, "rb") as f:
            return f.read(n)

    def files(self, skipped: list | None = None):
        try:
            it = os.scandir(self.path or ".")
        except OSError:
            return
        with it:
            for e in it:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    if skipped is not None:
                        skipped.append(e.path)
                elif e.is_file():
                    yield e.name, e.path

    def write_new(self, data: bytes, force: bool = False, mode: int | None = None) -> None:
        ensure_folder(os.path.dirname(self.path), self.path)
        write_atomic(self.path, data, force, mode)

    def check_out_folder(self) -> None:
        check_out_folder(self.path)

    def identity(self) -> tuple:
        """(the path with symbolic links resolved, (device, inode) or None when it does not exist)."""
        try:
            st = os.stat(self.path)
            return os.path.realpath(self.path), (st.st_dev, st.st_ino)
        except (OSError, ValueError):
            return os.path.realpath(self.path), None
