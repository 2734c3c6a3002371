"""Speed suites behind `vpo bench` (see suites.py)."""
