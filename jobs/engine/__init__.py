"""The job engine: every job type runs through it. One module per behaviour:

- transitions: every allowed status move, declared once, and the one function that makes them;
- submission: authorize, validate, store and publish a job (with Idempotency-Key);
- running: the worker's side of an attempt (claim, progress, heartbeat, finish);
- dispatch: publishing to the broker, the dispatcher of due and lost work, the stalled-job reaper;
- actions: cancel, replay and discard by owners and operators;
- batches: a parent job that fans out into children;
- hooks: what follows a job's end (listeners such as the webhook outbox, the live event, the batch);
- retry: when a failed attempt gets another one, and after how long;
- audit: the audit trail.

The hot-path writes go through jobs.store (PostgreSQL's own statements, or the portable ORM ones).
"""
