"""Every ciphertext format RIC reads, which it writes, and what decrypting each needs: one table, as data.

No torch import: `ric --help`, `ric info` and the service read it cheaply. Each format has one unambiguous name
(`name`, used in code, docs and `ric info`) and the marker the file itself carries (`marker`): the `format` field of
a paper ciphertext's `ric` chunk, or the pixel-layout version of a sealed ciphertext's pixel header (its version
byte: 0x82 for layout 2, 0x01 for layout 1). (The fixed `ric` chunk
of a sealed ciphertext reads {"format": "ric/1", "scheme": "sealed"}: that text is SEALED_CHUNK_TEXT, constant for
every sealed version, and names no paper format.)
"""
from __future__ import annotations

from dataclasses import dataclass

PAPER, SEALED = "paper", "sealed"
SCHEMES = (SEALED, PAPER)         # the `--scheme` choices, the default first
DEFAULT_SCHEME = SEALED
SEALED_CHUNK_TEXT = "ric/1"       # the sealed chunk's `format` text (not a paper format; see above)

# what decrypting needs, by kind of format
KEY_ONLY = "the key alone; bit-exact on any machine"
PORTABLE = ("the key, the RIC model and the classifier named inside (D and the class starts); the same pixels on "
            "any machine whose D agrees to within 2⁻⁸ of a level (n_adv and D's rounding ties are stored under the "
            "key; other machines are refused, exit 10)")
REGENERATE = ("the key, the RIC model and the classifier named inside, and Φ re-run with the encryptor's exact "
              "float rounding: the same ATen kernels (CPU capability, device) as the encryptor's, unless the file "
              "carries its n_adv chunk (`rcNa`)")


@dataclass(frozen=True)
class Format:
    name: str            # unambiguous name: paper formats keep their marker (ric/N); sealed ones are sealed/N
    scheme: str          # "paper" | "sealed"
    marker: str          # what the file carries: the paper `format` field, or the sealed pixel-layout version
    written: bool        # this version writes it
    mixes: tuple         # paper: the `--mix` names it can hold (ric.schemes.paper.mixing.CLI_NAMES)
    needs: str           # what decrypting it needs
    hides: str           # what the ciphertext reveals besides its label and size (docs/results.md, Security)


FORMATS = (
    Format("sealed/2", SEALED, "2", True, (), KEY_ONLY, "nothing measured"),
    Format("sealed/1", SEALED, "1", False, (), KEY_ONLY,
           "nothing measured; its tag covers the payload digits only (the classifier's part can be changed "
           "undetected): upgrade with `ric reencrypt`"),
    Format("ric/4", PAPER, "ric/4", True, ("mask", "scramble", "none"), PORTABLE,
           "nothing measured with --mix mask; per-image statistics with scramble; the image with none"),
    Format("ric/3", PAPER, "ric/3", False, ("mask",), REGENERATE, "nothing measured"),
    Format("ric/2", PAPER, "ric/2", False, ("scramble", "none"), REGENERATE,
           "per-image statistics (contrast, histogram), or the image (mix none): upgrade with `ric reencrypt`"),
    Format("ric/1", PAPER, "ric/1", False, ("none",), REGENERATE, "the image (the paper's exact scheme)"),
)

BY_NAME = {f.name: f for f in FORMATS}
PAPER_MIXES = next(f.mixes for f in FORMATS if f.scheme == PAPER and f.written)            # the `--mix` choices
PAPER_MARKERS = tuple(f.marker for f in FORMATS if f.scheme == PAPER)
PAPER_WRITTEN = next(f.name for f in FORMATS if f.scheme == PAPER and f.written)          # "ric/4"
SEALED_WRITTEN = next(f.name for f in FORMATS if f.scheme == SEALED and f.written)        # "sealed/2"
DEFAULT_FORMAT = SEALED_WRITTEN if DEFAULT_SCHEME == SEALED else PAPER_WRITTEN


def sealed_name(version: int) -> str:
    """The table name of a sealed pixel-layout version (2 -> sealed/2)."""
    for f in FORMATS:
        if f.scheme == SEALED and f.marker == str(version):
            return f.name
    raise KeyError(f"no sealed format with pixel-layout version {version}")


def markdown() -> str:
    """The table as Markdown (the README's and `ric info --formats`')."""
    rows = ["| format | scheme | written | decrypting needs | reveals besides label and size |",
            "|---|---|---|---|---|"]
    for f in FORMATS:
        written = ("**default**" if f.name == DEFAULT_FORMAT else "yes") if f.written else "read only"
        rows.append(f"| `{f.name}` | {f.scheme} | {written} | {f.needs} | {f.hides} |")
    return "\n".join(rows)
