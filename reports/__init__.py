"""Reports rendered from what the suites observed: the conventions matrix and its pytest plugin."""
