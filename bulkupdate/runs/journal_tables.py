"""The tables of a journal file, and the version a journal must carry to be opened."""

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE chunks (                 -- the input's distinct valid entries, in order
    chunk INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,       -- the seq of its first number
    numbers TEXT NOT NULL             -- +E.164 numbers or ids, one a line
);
CREATE TABLE entries (                -- rejected and repeated input entries
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    status TEXT NOT NULL,
    value TEXT,
    raw TEXT,
    reason TEXT,
    PRIMARY KEY (source, line)
) WITHOUT ROWID;
CREATE TABLE jobs (
    job INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    seqs TEXT NOT NULL,               -- the numbers it holds, as seq ranges: 0-999,1204
    created_at REAL NOT NULL,
    finished_at REAL,
    status TEXT                       -- the final status; NULL while the job runs
);
CREATE TABLE posts (                  -- job POSTs sent, their outcome not known yet
    post INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    sent_at TEXT NOT NULL,            -- ISO 8601, UTC
    seqs TEXT NOT NULL
);
CREATE TABLE exceptions (             -- numbers whose state their one job does not tell
    seq INTEGER PRIMARY KEY,
    state INTEGER NOT NULL,           -- NumberState
    attempts INTEGER NOT NULL,
    jobs TEXT NOT NULL,               -- jobs.job of each job it was in, comma-separated
    errors TEXT                       -- JSON list of the API's error objects
);
"""
