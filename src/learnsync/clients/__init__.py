"""API clients: ``coursera`` (the source), ``threesixty`` (the target); neither knows the store."""
