"""One module per scenario; each starts what it needs, measures, tears it down and returns plain data."""
