"""API clients: ``coursera`` (the source) and ``threesixty`` (the target). No client knows the store."""
