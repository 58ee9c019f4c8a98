"""Reports rendered from what the suites observed: the conventions matrix, the HTML report, and the pytest plugin that writes them."""
