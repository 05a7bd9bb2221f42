"""The command line (a runner: it only calls the pipelines)."""
