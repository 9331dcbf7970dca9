"""The package version, in a module of its own so it imports instantly."""

__version__ = "0.1.0"
