"""The one tiling abstraction (allspark.tiling): grid windows for readers, blocks for jobs."""

from __future__ import annotations

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.tiling import Grid, block_side, grid_windows, memory_blocks


def coverage(width, height, windows) -> np.ndarray:
    count = np.zeros((height, width), int)
    for x, y, w, h in windows:
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, (x, y, w, h)
        count[y:y + h, x:x + w] += 1
    return count


@pytest.mark.parametrize("width,height,size", [(256, 128, 64), (300, 200, 100), (64, 64, 64), (7, 5, 1)])
def test_stride_equal_to_size_covers_every_pixel_exactly_once(width, height, size):
    for flush in (True, False):  # divisible sizes: both ways tile the raster without overlap
        windows = grid_windows(width, height, size, flush=flush)
        assert (coverage(width, height, windows) == 1).all()
        assert len(Grid.of(width, height, size, flush=flush)) == len(windows)


def test_blocks_cut_at_the_edge_cover_exactly_once():
    windows = grid_windows(300, 200, 128, flush=False)
    assert (coverage(300, 200, windows) == 1).all()
    assert [w[2] for w in windows[:3]] == [128, 128, 44] and {w[3] for w in windows} == {128, 72}


def test_last_row_and_column_are_flush_with_the_edge():
    windows = grid_windows(300, 200, 128)
    assert all(w == 128 and h == 128 for *_, w, h in windows)  # full-size everywhere
    assert max(x + w for x, _, w, _ in windows) == 300 and max(y + h for _, y, _, h in windows) == 200
    assert sorted({x for x, *_ in windows}) == [0, 128, 172] and sorted({y for _, y, *_ in windows}) == [0, 72]
    assert (coverage(300, 200, windows) >= 1).all()


def test_overlapping_stride_and_rectangular_tiles():
    windows = grid_windows(256, 256, 128, stride=64)
    assert len(windows) == 9 and (coverage(256, 256, windows) >= 1).all()
    windows = grid_windows(100, 60, (40, 30), stride=(20, 30))
    assert {(w, h) for *_, w, h in windows} == {(40, 30)}
    assert max(x + w for x, _, w, _ in windows) == 100 and max(y + h for _, y, _, h in windows) == 60


def test_a_raster_smaller_than_a_tile_is_one_window():
    assert grid_windows(50, 40, 128) == [[0, 0, 50, 40]]


def test_region_offsets_the_windows():
    windows = grid_windows(1000, 1000, 64, region=[100, 200, 128, 64])
    assert windows == [[100, 200, 64, 64], [164, 200, 64, 64]]


def test_bad_sizes_are_input_errors():
    for tile, stride in ((0, None), (64, -1), ("x", None), ([64], None)):
        with pytest.raises(InputError, match="tile|stride"):
            grid_windows(100, 100, tile, stride)


def test_memory_bounded_blocks():
    # 4 bands x 16 bytes per value: 1 MiB holds a 128 x 128 block
    assert block_side(4, 1 << 20) == 128
    assert block_side(4, 1 << 20, multiple=100) == 100  # tiles line up across blocks
    assert block_side(4, 10, multiple=32) == 32  # never below one tile
    blocks = memory_blocks(300, 200, 4, 1 << 20)
    assert (coverage(300, 200, blocks) == 1).all()
    assert all(w * h * 4 * 16 <= 1 << 20 for *_, w, h in blocks)
    inside = memory_blocks(300, 200, 4, 1 << 20, region=[10, 20, 200, 100])
    assert inside == [[10, 20, 128, 100], [138, 20, 72, 100]]


def test_service_raster_blocks_use_the_one_tiling():
    from allspark.service.steps import raster_blocks

    assert raster_blocks(300, 200, 4, 1 << 20, 64) == memory_blocks(300, 200, 4, 1 << 20, 64)
    assert raster_blocks(300, 200, 4, 1 << 20, None, [10, 20, 200, 100]) == \
        memory_blocks(300, 200, 4, 1 << 20, region=[10, 20, 200, 100])


def test_origins_of_a_strided_pixel_grid():
    xs, ys = Grid.of(10, 7, 1, 3, flush=False).origins()
    assert xs == list(range(0, 10, 3)) and ys == list(range(0, 7, 3))
