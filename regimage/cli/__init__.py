"""The command line: a thin layer on the public API (:mod:`regimage.cli.core` holds the entry point)."""
