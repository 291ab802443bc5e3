"""Every failure a user can cause has its own exception type with a one-line message; the CLI prints
`ric: error: <message>` and exits with the code below (never a traceback)."""


class RICError(Exception):
    exit_code = 2


class KeyFileError(RICError):
    exit_code = 3


class InputImageError(RICError):
    exit_code = 4


class ContainerError(RICError):
    """The file is not a RIC ciphertext or its metadata is missing/garbled."""
    exit_code = 5


class ImageSizeError(ContainerError):
    """A PNG whose declared size is over a limit, or ambiguous (a second IHDR chunk), found by the chunk walk
    before anything is decoded. `width`, `height`: the first IHDR's; `ambiguous`: True for a second IHDR."""

    def __init__(self, message: str, width: int = 0, height: int = 0, ambiguous: bool = False):
        super().__init__(message)
        self.width, self.height, self.ambiguous = width, height, ambiguous


class WrongKeyError(RICError):
    exit_code = 6


class TamperedMetadataError(RICError):
    exit_code = 7


class TamperedPixelsError(RICError):
    exit_code = 8


class ModelMismatchError(RICError):
    exit_code = 9


class RegenerationError(RICError):
    """The adversarial noise regenerated at decryption differs from the one used at encryption."""
    exit_code = 10


class NAEFailure(RICError):
    exit_code = 11


class ModelLoadError(RICError):
    exit_code = 12


class OutputExistsError(RICError):
    exit_code = 13


class OutputWriteError(RICError):
    """An output could not be written: its folder is missing or not writable, --out names a file, the disk is
    full. The message names the output (never a temporary file)."""
    exit_code = 17


class CapacityError(RICError):
    """The image does not fit in a sealed ciphertext of its size."""
    exit_code = 14


class NotSealedError(RICError):
    """No sealed pixel header: not a sealed ciphertext (or its first values were destroyed)."""
    exit_code = 5


class MissingExtraError(RICError, ImportError):
    """A command or module needs an optional dependency group (an extra: plots, postgres, ...) — or, with `extra`
    None, one of ric's own dependencies (the service's, since they are core) — that is not installed; the message
    names what is missing and how to install it. Also an ImportError, so `except ImportError` around an optional
    import still catches it."""
    exit_code = 16

    def __init__(self, what: str, extra: str | None, module: str | None = None):
        if extra is None:
            need = _requirement(module or "")
            msg = (f"{what} needs {module}, one of ric's dependencies, which is not installed (a partial install?): "
                   f"pip install '{need}'")
        else:
            why = f" ({module} is not installed)" if module else ""
            msg = f"{what} needs the {extra} extra{why}: pip install 'ric[{extra}]'"
        super().__init__(msg, name=module)
        self.what, self.extra, self.module = what, extra, module


def _requirement(module: str) -> str:
    """ric's requirement for the distribution that provides top-level `module` (e.g. python_multipart ->
    "python-multipart>=0.0.13"), read from the installed package's metadata; the module's name when not found."""
    import re
    from importlib import metadata
    want = re.sub(r"[-_.]+", "-", module).lower()
    try:
        reqs = metadata.requires("ric") or []
    except metadata.PackageNotFoundError:
        reqs = []
    for r in reqs:
        spec = r.split(";")[0].strip()
        if re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[ ]", spec, maxsplit=1)[0]).lower() == want:
            return spec
    return module.replace("_", "-")


def require_extra(what: str, extra: str | None, *modules: str) -> None:
    """Raise MissingExtraError naming `extra` (None: ric's own dependencies) unless every top-level module in
    `modules` is installed (looked up with importlib.util.find_spec: nothing is imported)."""
    from importlib.util import find_spec
    for m in modules:
        if find_spec(m) is None:
            raise MissingExtraError(what, extra, m)


class DatasetError(RICError, ValueError):
    """A dataset spec or file that cannot be loaded (also a ValueError, as it used to be)."""
    exit_code = 2


class ConfigError(RICError, ValueError):
    """A training or benchmark configuration that is malformed (also a ValueError, as it used to be)."""
    exit_code = 2


class UnknownConfigKey(ConfigError, KeyError):
    """A configuration key the defaults do not have."""

    def __str__(self) -> str:          # KeyError quotes its message; a user error reads as plain text
        return str(self.args[0]) if self.args else ""


class OutOfMemory(RICError):
    """The machine (or GPU) ran out of memory; the message says what to try."""
    exit_code = 15


# -- the service and its client ---------------------------------------------------------------------------
class ServiceError(RICError):
    """The server could not be reached, or answered with a server error or something that is not JSON."""
    exit_code = 20


class AuthError(RICError):
    """The server refused the upload token."""
    exit_code = 21


class RequestRefused(RICError):
    """The server refused a request (4xx other than authentication): too large, not a ciphertext, not found."""
    exit_code = 22


class StoreError(RICError):
    """The database URL is malformed, its driver is missing, or the database cannot be reached."""
    exit_code = 23


class UnknownSchemeError(RICError, ValueError):
    """A scheme name that no scheme is registered under (ric.schemes.registry); the message lists the known ones.
    Also a ValueError, as the scheme constructors' own refusals are."""
    exit_code = 2


class UploadRefused(ContainerError):
    """An uploaded file that a scheme's upload check refuses (ric.schemes.registry.SchemeSpec.check_upload): `code`
    is the short machine code the service answers with (e.g. "bad_identity", "classifier_mismatch")."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
