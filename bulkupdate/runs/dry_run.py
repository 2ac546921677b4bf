"""``bulkupdate run --dry-run``: read, check and batch every entry; print the plan.

Nothing is sent and no journal is written.
"""

from __future__ import annotations

from typing import TextIO

import orjson

from bulkupdate.engine.outcomes import Outcome
from bulkupdate.escaping import printable
from bulkupdate.input.batching import Batch, Batcher
from bulkupdate.runs.report_sinks import SummarySink
from bulkupdate.runs.run_options import EXIT_OK, EXIT_SOME_FAILED, RunOptions


def dry_run(options: RunOptions, out: TextIO) -> int:
    """Print what a run of ``options`` would send; 0 if every entry is valid, else 1."""
    scanner = options.inputs.scanner()
    batcher = Batcher(options.engine.batch_size)
    summary = SummarySink()
    first: Batch | None = None
    batches = 0
    for chunk in scanner.scan_paths(options.inputs.paths):
        for rejection in chunk.rejections:
            summary.record(Outcome.rejected(rejection))
        for batch in batcher.add(chunk.values):
            first = first or batch
            batches += 1
    for batch in batcher.flush():
        first = first or batch
        batches += 1
    counts = scanner.counts
    spec = options.spec
    url = options.resolved_base_url() + spec.kind.path
    query = spec.query_string()
    print("Dry run: nothing was sent.", file=out)
    print(f"  entries read:  {counts.entries:,}", file=out)
    print(f"  valid:         {counts.valid:,}", file=out)
    print(f"  rejected:      {counts.rejected:,}", file=out)
    for outcome in summary.rejections:
        reason = printable(str(outcome.errors[0].get("detail")))
        source = printable(str(outcome.source))
        print(f"    {source}:{outcome.line}: {reason}: {outcome.raw!r}", file=out)
    print(f"  duplicates:    {counts.duplicates:,}", file=out)
    print(f"  batches:       {batches:,} (at most {options.engine.batch_size} each)", file=out)
    print(f"  request:       POST {printable(url)}{'?' + query if query else ''}", file=out)
    if first is not None:
        body = orjson.loads(spec.encode_body(first.values))
        print("  first batch body:", file=out)
        text = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
        for line in text.splitlines():
            print(f"    {printable(line)}", file=out)  # the spec's strings as given
    return EXIT_SOME_FAILED if counts.rejected else EXIT_OK
