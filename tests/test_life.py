"""The Game of Life engine against known patterns and a cell-by-cell count."""

import numpy as np
import pytest

from core.lessons import life
from core.lessons.life import PATTERNS, neighbours, period, place, run, step


def brute_neighbours(grid: np.ndarray, wrap: bool) -> np.ndarray:
    h, w = grid.shape
    out = np.zeros((h, w), dtype=int)
    for y in range(h):
        for x in range(w):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if (dy, dx) == (0, 0):
                        continue
                    yy, xx = y + dy, x + dx
                    if wrap:
                        out[y, x] += grid[yy % h, xx % w]
                    elif 0 <= yy < h and 0 <= xx < w:
                        out[y, x] += grid[yy, xx]
    return out


@pytest.mark.parametrize("wrap", [False, True])
def test_neighbours_and_the_four_rules_cell_by_cell(wrap):
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (3, 5), (12, 9)]:
        grid = rng.random(shape) < 0.4
        before = grid.copy()
        counts = brute_neighbours(grid, wrap)
        np.testing.assert_array_equal(neighbours(grid, wrap), counts)
        nxt = step(grid, wrap)
        np.testing.assert_array_equal(grid, before)  # the input is never changed
        for (y, x), alive in np.ndenumerate(grid):
            n = counts[y, x]
            expected = (n in (2, 3)) if alive else (n == 3)
            assert nxt[y, x] == expected


def test_a_blinker_has_period_2():
    grid = place(PATTERNS["blinker"], (5, 5))
    once = step(grid)
    assert not np.array_equal(once, grid)
    np.testing.assert_array_equal(once, place(PATTERNS["blinker"], (5, 5)).T)  # horizontal becomes vertical
    np.testing.assert_array_equal(step(once), grid)
    assert period(grid) == 2


def test_a_glider_moves_one_cell_down_and_right_in_4_steps():
    grid = place(PATTERNS["glider"], (10, 10), at=(1, 1))
    frames = run(grid, 4)
    np.testing.assert_array_equal(frames[4], place(PATTERNS["glider"], (10, 10), at=(2, 2)))
    for frame in frames[1:4]:
        assert not np.array_equal(frame, np.roll(grid, (1, 1), axis=(0, 1)))
    assert life.population(frames).tolist() == [5] * 5


def test_a_glider_on_a_torus_comes_back_home():
    grid = place(PATTERNS["glider"], (8, 8), at=(0, 0))
    assert period(grid, limit=40, wrap=True) == 32  # 8 cells down and right, 4 generations a cell


@pytest.mark.parametrize("name", list(PATTERNS))
def test_every_pattern_has_its_stated_period_and_shift(name):
    pattern = PATTERNS[name]
    grid = place(pattern, (12, 12), at=(3, 3))
    after = run(grid, pattern.period)[-1]
    dy, dx = pattern.shift
    np.testing.assert_array_equal(after, place(pattern, (12, 12), at=(3 + dy, 3 + dx)))
    if pattern.shift == (0, 0):
        assert period(grid) == pattern.period


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        step(np.zeros(5, dtype=bool))
    with pytest.raises(ValueError):
        run(np.zeros((3, 3), dtype=bool), life.MAX_GENERATIONS + 1)
    with pytest.raises(ValueError):
        place(PATTERNS["toad"], (2, 2))
    assert period(np.eye(3, dtype=bool), limit=5) is None  # a diagonal dies: never itself again
