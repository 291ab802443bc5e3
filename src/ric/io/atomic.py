"""Writing files safely: through an O_EXCL temporary in the target folder, never replacing what is there."""
from __future__ import annotations

import errno
import os
import tempfile

from ..errors import OutputExistsError, OutputWriteError

_WHY = {errno.EACCES: "its folder is not writable", errno.EPERM: "its folder is not writable",
        errno.EROFS: "its folder is on a read-only file system", errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "the disk quota is exceeded", errno.ENOTDIR: "a part of its folder path is a file, not a folder",
        errno.EEXIST: "a part of its folder path is a file, not a folder",
        errno.ENOENT: "its folder does not exist", errno.EFBIG: "the file is too large for the file system",
        errno.EISDIR: "a folder of that name is in the way"}


def write_error(path: str, e: OSError) -> OutputWriteError:
    """The one-line error for an OSError met while writing `path` (or creating its folder), naming `path`."""
    why = _WHY.get(e.errno, e.strerror or str(e))
    return OutputWriteError(f"cannot write {path}: {why}")


def ensure_folder(folder: str, path: str | None = None) -> None:
    """Create `folder` (and its parents) if missing; OutputWriteError naming `path` (default: the folder) if it
    cannot be, e.g. a file is in the way or the parent is not writable."""
    try:
        os.makedirs(folder or ".", exist_ok=True)
    except OSError as e:
        if e.errno == errno.EEXIST:           # a file where the folder should be
            e = OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        raise write_error(path or folder, e) from None


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


def check_out_folder(folder: str) -> None:
    """Refuse up front, before any work, an output folder that cannot be: a file of that name (or a file in its
    path), or a folder (its nearest existing parent, when it is still to be made) this process may not write in.
    OutputWriteError (exit 17)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputWriteError(f"--out {folder} is a file, not a folder")
    probe = os.path.abspath(folder)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise OutputWriteError(f"cannot make the folder {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "it is" if probe == os.path.abspath(folder) else f"{probe} is"
        raise OutputWriteError(f"cannot write in {folder}: {where} not writable")


def write_atomic(path: str, data: bytes, force: bool = False, mode: int | None = None) -> None:
    """Write bytes to `path` through a temporary file created with O_EXCL in the target folder (mkstemp: it never
    follows or replaces anything there), with file mode `mode` (recovered plaintexts: 0600; default: what the umask
    gives a new file), then moved into place.
    Without `force` the move is a hard link, which fails if `path` appeared meanwhile, so an existing file is never
    replaced (filesystems without hard links fall back to a checked rename).
    An OSError (folder missing or not writable, a file in the folder path, disk full) is OutputWriteError naming
    `path`; the temporary file is removed whatever happens."""
    if os.path.lexists(path) and not force:
        raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)")
    folder = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(path), suffix=".part")
    except OSError as e:
        raise write_error(path, e) from None
    try:
        _write_and_move(fd, tmp, path, data, force, mode)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _write_and_move(fd: int, tmp: str, path: str, data: bytes, force: bool, mode: int | None) -> None:
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


def _temp_prefix(path: str) -> str:
    """The name write_atomic's temporary file for `path` starts with (then 8 random characters and .part)."""
    return f".{os.path.basename(path)[:100]}."


_TEMP_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")     # what tempfile's random names are made of


def remove_temporaries(path: str) -> int:
    """Remove the temporary files `write_atomic` leaves for `path` when its process is killed mid-write (regular
    files `.NAME.XXXXXXXX.part` beside it, NAME its base name as write_atomic truncates it); returns how many. For a
    driver whose worker died: call it only once nothing writes `path` any more."""
    folder, prefix, removed = os.path.dirname(path) or ".", _temp_prefix(path), 0
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    for entry in entries:
        rest = entry[len(prefix):-len(".part")] if entry.startswith(prefix) and entry.endswith(".part") else ""
        tmp = os.path.join(folder, entry)
        if len(rest) == 8 and set(rest) <= _TEMP_CHARS and os.path.isfile(tmp) and not os.path.islink(tmp):
            try:
                os.unlink(tmp)
                removed += 1
            except OSError:
                pass
    return removed
