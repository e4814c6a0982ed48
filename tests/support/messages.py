"""The interface's messages as the source has them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

ROOT = Path(__file__).resolve().parents[2]


def source_messages() -> dict[str, str]:
    """Every msgid in the source (what `make messages` extracts), with where it was found."""
    found = {}
    for folder in ("core", "viz"):
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"_": None, "N_": None}
        ):
            found[message] = f"{folder}/{filename}"
    return found
