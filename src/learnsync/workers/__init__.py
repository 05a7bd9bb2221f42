"""A fleet of workers on Celery: ``learnsync worker`` executes the runs ``serve`` submits.

A runner beside the command line and the web app (docs/deploy.md): with
``LEARNSYNC_BROKER_URL`` set, ``serve`` submits a run (its row ``queued``, as always) and sends
a task carrying the run's id only (:func:`~learnsync.workers.fleet.dispatcher`); a worker
starts that run on its integration's lease and executes it as the service would
(:func:`~learnsync.workers.fleet.execute_task`). No sync logic lives here.
"""
