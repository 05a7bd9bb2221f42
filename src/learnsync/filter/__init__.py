"""The language / content-type filters of SPEC §3 (article, Step 4): a pure predicate."""

from learnsync.filter.rules import Filters

__all__ = ["Filters"]
