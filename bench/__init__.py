"""The benchmark of the pipeline (``make bench``): load generators, measuring tools, scenarios, report."""
