"""The plain data types and Protocols that cross the seams between layers.

The lowest layer of learnsync (only :mod:`learnsync.errors` below it): no HTTP, no database, no
other learnsync package, so the pipeline steps, the clients and the store can all share them.

- :mod:`learnsync.model.coursera` — the tolerant rows the Coursera API returns;
- :mod:`learnsync.model.bulk` — the per-item results of a 360Learning bulk operation;
- :mod:`learnsync.model.ports` — what the pipelines call on the source and the target
  (``CourseraSource``, ``ThreeSixtyTarget``), met structurally by the real clients;
- :mod:`learnsync.model.state` — what the content diff reads of an item's stored state;
- :mod:`learnsync.model.progress` — how a pipeline reports how far it got.
"""
