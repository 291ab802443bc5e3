"""Hand-made PNG chunks for the container and service hardening tests (valid CRCs, any structure)."""
import struct
import zlib

SIG = b"\x89PNG\r\n\x1a\n"


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def chunks_of(data: bytes):
    pos, out = 8, []
    while pos < len(data):
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        out.append((t, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return out


def rebuild(chs) -> bytes:
    return SIG + b"".join(chunk(t, b) for t, b in chs)
