"""The slow tiers (pytest.ini's markers, which `make check` leaves out), by how pytest-xdist must place them."""

BROWSER_TIERS = ("browser", "serving", "load")  # one worker for all: one app server, the heaviest work apart
MODULE_TIERS = ("parity", "long", "hypothesis")  # one worker per module: its reference model loaded once
