"""Conway's Game of Life: many simple cells, four rules, behaviour none of them has alone (seed 001's picture
of emergence).

A grid is a 2-D bool array, True for a live cell. Each generation every cell counts its eight neighbours:

1. a live cell with fewer than two live neighbours dies (underpopulation);
2. a live cell with two or three lives on;
3. a live cell with more than three dies (overpopulation);
4. a dead cell with exactly three becomes alive (reproduction).

Beyond the edge cells are dead, or, with `wrap`, the grid is a torus (the right edge touches the left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import N_

MAX_SIDE = 64  # the largest grid a page offers
MAX_GENERATIONS = 500


@dataclass(frozen=True)
class Pattern:
    id: str
    label: str  # marked for the catalogues
    kind: str  # marked for the catalogues: still life, oscillator, spaceship
    rows: tuple[str, ...]  # "O" live, "." dead
    period: int  # generations until the shape comes back (1 for a still life)
    shift: tuple[int, int] = (0, 0)  # (down, right) it has moved after one period

    def cells(self) -> np.ndarray:
        return np.array([[c == "O" for c in row] for row in self.rows], dtype=bool)


STILL, OSCILLATOR, SPACESHIP = N_("still life"), N_("oscillator"), N_("spaceship")

PATTERNS: dict[str, Pattern] = {p.id: p for p in (
    Pattern("block", N_("block"), STILL, ("OO", "OO"), 1),
    Pattern("beehive", N_("beehive"), STILL, (".OO.", "O..O", ".OO."), 1),
    Pattern("loaf", N_("loaf"), STILL, (".OO.", "O..O", ".O.O", "..O."), 1),
    Pattern("boat", N_("boat"), STILL, ("OO.", "O.O", ".O."), 1),
    Pattern("blinker", N_("blinker"), OSCILLATOR, ("OOO",), 2),
    Pattern("toad", N_("toad"), OSCILLATOR, (".OOO", "OOO."), 2),
    Pattern("glider", N_("glider"), SPACESHIP, (".O.", "..O", "OOO"), 4, (1, 1)),
)}


def _check(grid: np.ndarray) -> np.ndarray:
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"a grid is a non-empty 2-D array, got shape {grid.shape}")
    return grid.astype(bool, copy=False)


def neighbours(grid: np.ndarray, wrap: bool = False) -> np.ndarray:
    """(H, W) int: the live cells among each cell's eight neighbours."""
    grid = _check(grid).astype(np.int8)
    if wrap:
        return sum(np.roll(np.roll(grid, dy, axis=0), dx, axis=1)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)).astype(np.int64)
    padded = np.pad(grid, 1)
    h, w = grid.shape
    return sum(padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)).astype(np.int64)


def step(grid: np.ndarray, wrap: bool = False) -> np.ndarray:
    """The next generation, a new array (the input is never changed)."""
    grid = _check(grid)
    n = neighbours(grid, wrap)
    return (n == 3) | (grid & (n == 2))


def run(grid: np.ndarray, generations: int, wrap: bool = False) -> np.ndarray:
    """(generations + 1, H, W) bool: the grid and each generation after it."""
    if not 0 <= generations <= MAX_GENERATIONS:
        raise ValueError(f"generations must be 0–{MAX_GENERATIONS}, got {generations}")
    frames = [_check(grid).copy()]
    for _ in range(generations):
        frames.append(step(frames[-1], wrap))
    return np.stack(frames)


def place(pattern: Pattern, shape: tuple[int, int], at: tuple[int, int] | None = None) -> np.ndarray:
    """An empty grid of `shape` with the pattern's top-left cell at `at` (default: centred)."""
    cells = pattern.cells()
    h, w = shape
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise ValueError(f"a grid side is 1–{MAX_SIDE}, got {shape}")
    top, left = at if at is not None else ((h - cells.shape[0]) // 2, (w - cells.shape[1]) // 2)
    if top < 0 or left < 0 or top + cells.shape[0] > h or left + cells.shape[1] > w:
        raise ValueError(f"{pattern.id} does not fit a {h} x {w} grid at {(top, left)}")
    grid = np.zeros(shape, dtype=bool)
    grid[top : top + cells.shape[0], left : left + cells.shape[1]] = cells
    return grid


def period(grid: np.ndarray, limit: int = 100, wrap: bool = False) -> int | None:
    """The smallest p ≥ 1 within `limit` after which the grid is exactly itself again, else None."""
    start = _check(grid)
    current = start
    for p in range(1, limit + 1):
        current = step(current, wrap)
        if np.array_equal(current, start):
            return p
    return None


def population(frames: np.ndarray) -> np.ndarray:
    """Live cells per generation of `run`'s output (or of one grid)."""
    frames = np.asarray(frames, dtype=bool)
    return frames.reshape(frames.shape[0], -1).sum(axis=1) if frames.ndim == 3 else np.array([frames.sum()])
