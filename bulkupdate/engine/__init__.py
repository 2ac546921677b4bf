"""The engine: batches become jobs, jobs are watched, every number gets an outcome."""
