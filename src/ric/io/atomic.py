"""Writing files safely: through an O_EXCL temporary in the target folder, never replacing what is there."""
from __future__ import annotations

import os
import tempfile

from ..errors import OutputExistsError


def _umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_atomic(path: str, data: bytes, force: bool = False, mode: int | None = None) -> None:
    """Write bytes to `path` through a temporary file created with O_EXCL in the target folder (mkstemp: it never
    follows or replaces anything there), with file mode `mode` (recovered plaintexts: 0600; default: what the umask
    gives a new file), then moved into place.
    Without `force` the move is a hard link, which fails if `path` appeared meanwhile, so an existing file is never
    replaced (filesystems without hard links fall back to a checked rename)."""
    if os.path.lexists(path) and not force:
        raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)")
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)[:100]}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask() if mode is None else mode)
            f.write(data)
        if force:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)") from None
        except OSError:          # no hard links here (some network and FAT filesystems)
            if os.path.lexists(path):
                raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)") from None
            os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
