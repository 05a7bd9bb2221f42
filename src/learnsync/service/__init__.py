"""The connector service: integrations with encrypted secrets, admin access, runs, schedules.

The web app (:mod:`learnsync.web`) and ``learnsync serve`` are runners on top of this package;
nothing here contains sync logic — it builds a :class:`~learnsync.config.Config` and calls the
pipelines.
"""
