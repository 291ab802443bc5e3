"""Tiles with overlap: how a large image is cut so that a local network (one whose every output pixel depends only
on the input pixels within `halo` of it) computes on one crop at a time and gives the whole image's result.

A plan depends only on the image size, the tile side, the halo and the network's stride, so an encryptor and a
decryptor that share those get the same crops — and, on one machine, the same bits. The tile side that decides
this is recorded with each ciphertext that used it (PhiConfig.tile).
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TILE = 512   # interior side in input pixels: crops of (512 + 2·halo)² hold ~0.3 MP (docs/results.md, Photos)
NET_TILE = 256       # interior side for F, E and D (at most the codec's tile): a crop's activations stay small
#                      enough to be reused rather than freshly mapped; at 2000×1334 the cifar10 encoder took 17 s in
#                      tiles of 256 against 27 s in tiles of 512 (docs/results.md, "The cloud's classifier")
TILE_ABOVE = 1 << 20  # images of more pixels than this are tiled; smaller ones run whole (tiling costs ~1.6× time)


@dataclass(frozen=True)
class Tile:
    crop: tuple[slice, slice]        # input rows/cols the network is run on
    inner: tuple[slice, slice]       # rows/cols of the network's output on that crop that are kept
    out: tuple[slice, slice]         # where they go in the whole output


def _axis(n: int, tile: int, halo: int, stride: int) -> list[tuple[slice, slice, slice]]:
    """One axis of `n` input pixels: (crop, inner, out) triples in output units (input units / stride)."""
    if tile % stride or halo % stride:
        raise ValueError(f"tile {tile} and halo {halo} must be multiples of the stride {stride}")
    n_out, t, h = -(-n // stride), tile // stride, halo // stride
    parts = []
    for a in range(0, n_out, t):
        b = min(a + t, n_out)
        c0, c1 = max(0, a - h), min(n_out, b + h)
        parts.append((slice(c0 * stride, min(n, c1 * stride)), slice(a - c0, b - c0), slice(a, b)))
    return parts


def plan(h: int, w: int, tile: int, halo: int, stride: int = 1) -> list[Tile]:
    """Tiles covering an h×w image: interiors of side `tile` (the last ones smaller), crops `halo` wider on each
    side where the image goes on. `stride`: the network's output is the input downsampled by it."""
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    return [Tile((ry[0], rx[0]), (ry[1], rx[1]), (ry[2], rx[2]))
            for ry in _axis(h, tile, halo, stride) for rx in _axis(w, tile, halo, stride)]


def needs_tiles(h: int, w: int, tile: int, above: int = TILE_ABOVE) -> bool:
    """Whether an h×w image is tiled: it has more than `above` pixels and a tile side is set (0 = never)."""
    return bool(tile) and h * w > above


def round_up(v: int, m: int) -> int:
    return -(-v // m) * m


__all__ = ["DEFAULT_TILE", "NET_TILE", "TILE_ABOVE", "Tile", "plan", "needs_tiles", "round_up"]
