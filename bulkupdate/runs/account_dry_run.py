"""``bulkupdate run --from-account --dry-run``: how many numbers match, and the first request.

The count is the listing's ``meta.total_results`` from its first page when that says it
(the first page alone when it holds them all); a listing without a usable total is read
to its end to count. Then pages are read, as the run would read them, until the first
batch is full, and that batch's request is shown. Only ``GET /phone_numbers`` is sent:
no job is created, no journal written.
"""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TextIO
from urllib.parse import quote

import orjson

from bulkupdate.api.client import ApiClient
from bulkupdate.escaping import printable
from bulkupdate.input.listing_sweep import LARGEST_PAGE, SORT
from bulkupdate.runs.account_input import AccountSource
from bulkupdate.runs.embedded_sandbox import embedded_sandbox
from bulkupdate.runs.run_options import EXIT_OK, RunOptions


async def account_dry_run(options: RunOptions, out: TextIO) -> int:
    """Print what a run of ``options`` would select and send first; 0."""
    selection = options.account
    assert selection is not None
    server: AbstractAsyncContextManager[str] = (
        embedded_sandbox(options.sandbox_config)
        if options.sandbox
        else nullcontext(options.resolved_base_url())
    )
    batch_size = options.engine.batch_size
    async with (
        server as base_url,
        ApiClient(
            options.resolved_api_key(),
            base_url=base_url,
            rate=options.rate,
            timeout=options.timeout,
            allow_insecure_http=options.allow_insecure_http,
        ) as client,
    ):
        source = AccountSource(client, selection)
        sweep = source.sweep
        opening = sweep.next_window()
        assert opening is not None
        first = await source.read(opening)
        total = sweep.state.total
        if sweep.state.done:
            count, how = sweep.state.taken, "the listing, all on its first page"
        elif total is not None and total > LARGEST_PAGE:
            count, how = total, "the listing's meta.total_results"
        else:
            count, how = -1, "counted page by page: the listing gave no usable total"
        while (window := sweep.next_window()) is not None and (
            len(first) < batch_size or count < 0
        ):
            first += await source.read(window)
        if count < 0:
            count = sweep.state.taken
        spec = options.spec
        query = spec.query_string()
        listing = "&".join(
            f"{quote(key, safe='[]')}={quote(value, safe='')}"
            for key, value in [*selection.listing_params(), SORT]
        )
        print("Dry run: no update was sent.", file=out)
        print(f"  selection:     GET {printable(base_url)}/phone_numbers?{listing}", file=out)
        print(f"  numbers that match: {count:,} ({how})", file=out)
        print(f"  pages read:    {sweep.state.pages:,}", file=out)
        batches = math.ceil(count / batch_size)
        print(f"  batches:       {batches:,} (at most {batch_size} each)", file=out)
        url = printable(base_url + spec.kind.path)
        print(f"  request:       POST {url}{'?' + query if query else ''}", file=out)
        if first:
            body = orjson.loads(spec.encode_body(first[:batch_size]))
            print("  first batch body:", file=out)
            text = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
            for line in text.splitlines():
                print(f"    {printable(line)}", file=out)
        else:
            print("  nothing to do: no number of the account matches the filters", file=out)
    return EXIT_OK
