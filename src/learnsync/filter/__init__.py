"""The language / content-type filters (docs/mapping.md#filters): a pure predicate."""

from learnsync.filter.rules import Filters

__all__ = ["Filters"]
