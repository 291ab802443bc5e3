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


class CapacityError(RICError):
    """The image does not fit in a sealed ciphertext of its size."""
    exit_code = 14


class NotSealedError(RICError):
    """No sealed pixel header: not a sealed ciphertext (or its first values were destroyed)."""
    exit_code = 5
