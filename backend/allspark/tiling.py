"""One tiling abstraction for every raster reader, job and trainer: windows over a width x height grid.

In the spirit of torchgeo's GridGeoSampler, in pixels: a `Grid` yields [xoff, yoff, w, h] windows of
`size` px every `stride` px. Two ways to meet the far edge:

- `flush=True` (tiles a model reads): the last row / column is moved back to end at the edge, so every
  window is full-size when the raster is at least one window (a raster smaller than a window is one
  window of the raster's size);
- `flush=False` (blocks a job reads): windows start every `stride` px and the last row / column is cut
  at the edge, so with stride == size the windows cover the raster exactly once.

`memory_blocks` sizes the blocks of a large raster so each holds at most a given number of bytes of
float32 pixel data; `Grid.within` offsets windows into a region of a larger raster. Pure Python and
NumPy-free: importing it costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

from .errors import InputError


def _pair(value, name: str) -> tuple[int, int]:
    """(x, y) from one number or a pair; InputError naming `name` when not positive whole numbers."""
    try:
        if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
            if len(value) != 2:
                raise ValueError
            x, y = int(value[0]), int(value[1])
        else:
            x = y = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number of pixels or a pair [x, y]; got {value!r}") from None
    return x, y


@dataclass(frozen=True)
class Grid:
    """Windows of `size` (w, h) px every `stride` (x, y) px over a `width` x `height` grid, offset by
    `origin` (x, y): the grid is a region of a larger raster whose windows are in that raster's pixels."""

    width: int
    height: int
    size: tuple[int, int]
    stride: tuple[int, int]
    flush: bool = True
    origin: tuple[int, int] = (0, 0)

    @classmethod
    def of(cls, width: int, height: int, size, stride=None, flush: bool = True, region=None) -> "Grid":
        """A Grid from a size / stride given as one number or an [x, y] pair (stride defaults to size),
        over `region` [xoff, yoff, w, h] of the raster when given, else the whole width x height."""
        tw, th = _pair(size, "tile")
        sx, sy = (tw, th) if stride is None else _pair(stride, "stride")
        if tw <= 0 or th <= 0 or sx <= 0 or sy <= 0:
            raise InputError(f"tile and stride must be positive; got tile={size}, stride={stride}")
        if region is not None:
            x0, y0, width, height = (int(v) for v in region)
        else:
            x0, y0 = 0, 0
        return cls(int(width), int(height), (tw, th), (sx, sy), bool(flush), (x0, y0))

    def _axis(self, n: int, t: int, s: int) -> list[tuple[int, int]]:
        """(offset, length) along one axis."""
        if self.flush:
            if n <= t:
                return [(0, n)]
            offs = list(range(0, n - t + 1, s))
            if offs[-1] + t < n:
                offs.append(n - t)
            return [(o, t) for o in offs]
        return [(o, min(t, n - o)) for o in range(0, n, s)]

    def __iter__(self) -> Iterator[list[int]]:
        x0, y0 = self.origin
        xs = self._axis(self.width, self.size[0], self.stride[0])
        for y, h in self._axis(self.height, self.size[1], self.stride[1]):
            for x, w in xs:
                yield [x0 + x, y0 + y, w, h]

    def __len__(self) -> int:
        return (len(self._axis(self.width, self.size[0], self.stride[0]))
                * len(self._axis(self.height, self.size[1], self.stride[1])))

    def windows(self) -> list[list[int]]:
        return list(self)

    def origins(self) -> tuple[list[int], list[int]]:
        """The windows' column offsets and row offsets (x, y), each once: with size 1, the pixels of
        a strided grid (every stride-th pixel) without a window per pixel."""
        x0, y0 = self.origin
        return ([x0 + x for x, _ in self._axis(self.width, self.size[0], self.stride[0])],
                [y0 + y for y, _ in self._axis(self.height, self.size[1], self.stride[1])])


def grid_windows(width: int, height: int, tile: int | Sequence[int], stride: int | Sequence[int] | None = None,
                 flush: bool = True, region=None) -> list[list[int]]:
    """[xoff, yoff, w, h] windows of `tile` px every `stride` px covering the raster (or `region` of it);
    see Grid for `flush`."""
    return Grid.of(width, height, tile, stride, flush, region).windows()


def block_side(bands: int, memory_bytes: int, multiple: int | None = None, bytes_per_value: int = 16) -> int:
    """The side (px) of a square block whose `bands` values per pixel take at most `memory_bytes`
    (`bytes_per_value` = 16: float32 data, mask and working copies); a multiple of `multiple` (at least
    one) when given, so tiles line up across blocks."""
    per_pixel = max(1, int(bands)) * int(bytes_per_value)
    side = max(1, int(math.sqrt(max(1, int(memory_bytes)) / per_pixel)))
    if multiple:
        side = max(int(multiple), side // int(multiple) * int(multiple))
    return side


def memory_blocks(width: int, height: int, bands: int, memory_bytes: int, multiple: int | None = None,
                  region=None) -> list[list[int]]:
    """[xoff, yoff, w, h] blocks covering `region` (default the raster) exactly once, each holding at most
    `memory_bytes` of float32 pixel data (with room for the mask and the encoder's copy); block sides are
    multiples of `multiple` (a tile size) when given; the last row / column is cut at the edge."""
    side = block_side(bands, memory_bytes, multiple)
    return grid_windows(width, height, side, side, flush=False, region=region or [0, 0, width, height])


__all__ = ["Grid", "grid_windows", "block_side", "memory_blocks"]
