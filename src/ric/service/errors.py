"""Errors of the service side. Each is a RICError, so the CLI prints one line and exits with its code."""
from ..errors import RICError


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
