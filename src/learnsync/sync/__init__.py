"""The pipelines, end to end (extract → filter → map → diff → load), called by every runner."""
