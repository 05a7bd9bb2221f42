"""The load step: write planned changes to 360Learning in bulk and collect per-item outcomes."""
