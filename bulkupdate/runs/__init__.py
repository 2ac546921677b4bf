"""Runs: the journal that makes a run durable, run and resume, status, report, dry run."""
