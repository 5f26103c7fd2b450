"""drux: ask many AI models at once and see how much they agree."""

__version__ = "0.1.0"
