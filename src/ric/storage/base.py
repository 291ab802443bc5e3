"""The operations a place for files offers the file engine (ric.files)."""
from __future__ import annotations

from typing import Iterator, Protocol


class Location(Protocol):
    """A file or folder named by `path`. Reads raise OSError (with `strerror` set: callers wrap it in their own
    one-line error); writes raise OutputExistsError (exit 13) or OutputWriteError (exit 17)."""

    path: str

    def is_folder(self) -> bool:
        """Whether the path names a folder (a prefix with objects under it, in object storage)."""

    def exists(self) -> bool:
        """Whether a file is at the path."""

    def read_bytes(self, limit: int | None = None) -> bytes:
        """The file's bytes (at most `limit` + 1 when given)."""

    def head_bytes(self, n: int) -> bytes:
        """The first `n` bytes of the file (fewer when it is shorter): enough for an image header."""

    def files(self, skipped: list | None = None) -> Iterator[tuple[str, str]]:
        """(name, path) of the files directly in this folder, hidden ones left out; sub-folders are not entered
        (their paths are appended to `skipped`). Nothing when the folder does not exist."""

    def write_new(self, data: bytes, force: bool = False, mode: int | None = None) -> None:
        """Write `data` as the whole file: a reader sees the complete file or none, and an existing file is never
        replaced unless `force`. `mode`: the file mode where the place has modes (local files)."""

    def check_out_folder(self) -> None:
        """Refuse (OutputWriteError), before any work, a folder that outputs cannot be written in."""

    def identity(self) -> tuple:
        """Keys that are equal for two paths naming the same file (e.g. through links); None entries are unknown."""
