"""The ``aduan`` command line."""
