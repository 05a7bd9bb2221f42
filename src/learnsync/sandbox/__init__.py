"""Local simulators of the Coursera for Business API and of 360Learning's API v2.

Used by the tests, the demo and the benchmarks; never by production code paths.
"""
