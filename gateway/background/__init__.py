"""Work after the commit and on a schedule: the application's event handlers
(`handlers.py`), the scheduled jobs (`jobs.py`) and the heartbeat by which a worker
shows it is alive (`heartbeat.py`). With Redis the `gateway worker` process
(`gateway/worker.py`) runs them; on the embedded default `gateway serve` runs the
handlers and the jobs itself (the app's lifespan)."""
