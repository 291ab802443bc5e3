"""Objects in S3-compatible storage (`s3://bucket/key`, the `s3` extra: boto3).

The endpoint and credentials come from the standard AWS variables and files (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/config and ~/.aws/credentials), as for the AWS CLI. A folder is a key
prefix: `s3://b/enc` and `s3://b/enc/` name the same folder, whose files are the objects `enc/<name>`.

Writes are whole-object: a single PUT, or above MULTIPART_BYTES a multipart upload that is aborted on any error;
either way S3 makes the object visible complete or not at all. Without `force` the write carries `If-None-Match: *`,
so the server itself refuses to replace an object, even one another process wrote a moment ago.
"""
from __future__ import annotations

import errno
import functools
import os

from ..errors import OutputExistsError, OutputWriteError, require_extra

MULTIPART_BYTES = 8 << 20       # objects above this are uploaded in parts of this size
_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def split(url: str) -> tuple[str, str]:
    """("bucket", "key") of s3://bucket/key; OSError for a URL without a bucket."""
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise OSError(errno.EINVAL, f"{url} names no bucket (s3://BUCKET/KEY)")
    return bucket, key


def client():
    """A boto3 S3 client for the current AWS settings (one per process and settings: clients are thread-safe)."""
    require_extra("s3:// paths", "s3", "boto3")
    return _client(tuple(os.environ.get(k) for k in _ENV))


@functools.lru_cache(maxsize=4)
def _client(_settings: tuple):
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client("s3", config=Config(connect_timeout=10, read_timeout=120))


def why(e: Exception) -> tuple[int, str]:
    """(errno, one phrase) for a boto3/botocore error."""
    from botocore import exceptions as bx
    if isinstance(e, bx.NoCredentialsError):
        return errno.EACCES, "no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
    if isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return errno.EHOSTUNREACH, f"the S3 endpoint cannot be reached ({e})"
    if isinstance(e, bx.ClientError):
        err = e.response.get("Error", {})
        code, status = str(err.get("Code", "")), e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return errno.ENOENT, "its bucket does not exist"
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return errno.ENOENT, "no such object"
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status == 403:
            return errno.EACCES, f"access denied ({code})"
        if code == "PreconditionFailed" or status == 412:
            return errno.EEXIST, "it already exists"
        return errno.EIO, f"the S3 server answered {code or status}: {err.get('Message', '')}".rstrip(": ")
    if isinstance(e, bx.BotoCoreError):
        return errno.EIO, f"S3 client error: {e}"
    return errno.EIO, str(e)


def _os_error(e: Exception) -> OSError:
    code, msg = why(e)
    return OSError(code, msg)


class S3Location:
    def __init__(self, path: str):
        self.path = path

    @property
    def _bk(self) -> tuple[str, str]:
        return split(self.path)

    def _prefix(self) -> str:
        key = self._bk[1]
        return key if not key or key.endswith("/") else key + "/"

    def is_folder(self) -> bool:
        if self.path.endswith("/") or not self._bk[1]:
            return True
        bucket, _ = self._bk
        try:
            got = client().list_objects_v2(Bucket=bucket, Prefix=self._prefix(), MaxKeys=1)
        except Exception:    # noqa: BLE001 — any client error: not a folder; reading it gives the one-line error
            return False
        return got.get("KeyCount", 0) > 0

    def exists(self) -> bool:
        """False also when the server cannot say (access denied, unreachable): the write that follows then fails
        with its own error, and the server's If-None-Match still refuses to replace an object."""
        try:
            bucket, key = self._bk
            client().head_object(Bucket=bucket, Key=key)
            return True
        except Exception:    # noqa: BLE001
            return False

    def _get(self, rng: str | None = None) -> bytes:
        bucket, key = self._bk
        try:
            kw = {"Range": rng} if rng else {}
            body = client().get_object(Bucket=bucket, Key=key, **kw)["Body"]
        except Exception as e:    # noqa: BLE001
            raise _os_error(e) from None
        return body

    def read_bytes(self, limit: int | None = None) -> bytes:
        body = self._get()
        try:
            return body.read() if limit is None else body.read(limit + 1)
        except Exception as e:    # noqa: BLE001 — a connection dropped mid-read
            raise _os_error(e) from None
        finally:
            body.close()

    def head_bytes(self, n: int) -> bytes:
        body = self._get(f"bytes=0-{max(0, n - 1)}")
        try:
            return body.read(n)
        except Exception as e:    # noqa: BLE001
            raise _os_error(e) from None
        finally:
            body.close()

    def files(self, skipped: list | None = None):
        bucket, _ = self._bk
        prefix = self._prefix()
        base = f"s3://{bucket}/{prefix}"
        try:
            pages = client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
            for page in pages:
                for cp in page.get("CommonPrefixes", []):
                    if skipped is not None and not cp["Prefix"][len(prefix):].startswith("."):
                        skipped.append(f"s3://{bucket}/{cp['Prefix']}")
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix):]
                    if name and not name.startswith(".") and not name.endswith("/"):
                        yield name, base + name
        except OSError:
            raise
        except Exception as e:    # noqa: BLE001
            raise _os_error(e) from None

    def write_new(self, data: bytes, force: bool = False, mode: int | None = None) -> None:
        bucket, key = self._bk
        cond = {} if force else {"IfNoneMatch": "*"}
        try:
            if len(data) <= MULTIPART_BYTES:
                client().put_object(Bucket=bucket, Key=key, Body=data, **cond)
            else:
                self._multipart(bucket, key, data, cond)
        except Exception as e:    # noqa: BLE001
            code, msg = why(e)
            if code == errno.EEXIST:
                raise OutputExistsError(f"{self.path} already exists; refusing to overwrite (use --force)") from None
            raise OutputWriteError(f"cannot write {self.path}: {msg}") from None

    @staticmethod
    def _multipart(bucket: str, key: str, data: bytes, cond: dict) -> None:
        """Upload in parts; complete (with `cond`) or abort: the object appears whole or not at all."""
        c = client()
        up = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        try:
            parts = []
            for n, s in enumerate(range(0, len(data), MULTIPART_BYTES), 1):
                got = c.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n,
                                    Body=data[s:s + MULTIPART_BYTES])
                parts.append({"ETag": got["ETag"], "PartNumber": n})
            c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts}, **cond)
        except BaseException:
            try:
                c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up)
            except Exception:     # noqa: BLE001, S110 — the upload's own error is the one to report
                pass
            raise

    def check_out_folder(self) -> None:
        try:
            bucket, _ = self._bk
            client().head_bucket(Bucket=bucket)
        except OSError as e:
            raise OutputWriteError(f"--out {self.path}: {e.strerror}") from None
        except Exception as e:    # noqa: BLE001
            code, msg = why(e)
            if code == errno.ENOENT:
                msg = f"the bucket {bucket} does not exist"
            raise OutputWriteError(f"cannot write in {self.path}: {msg}") from None

    def identity(self) -> tuple:
        return self.path, None
