"""The diff step: compare what was mapped with what was last sent; decide what to write."""
