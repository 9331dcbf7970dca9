"""The documentation pages (a package only so that its conftest.py has a name of its own for pytest)."""
