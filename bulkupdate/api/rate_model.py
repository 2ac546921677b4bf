"""When the next request may go: a pure model of the server's rate limit. No I/O, no loop.

Telnyx documents only its headers: ``x-ratelimit-limit``, ``-remaining`` ("within the
current time window") and ``-reset`` ("seconds until the rate limit resets"). The
algorithm behind them (fixed windows, a sliding log, a token bucket), the window's length
and alignment are not documented, and a proxy may strip the headers. So the model reads
them for what holds under every algorithm, and never for more:

* **Pace.** Requests go one per interval at the pacing rate (virtual scheduling, a token
  bucket of one, as GCRA does). Paced at ``limit / window`` no algorithm refuses a request:
  no window of any alignment holds more than ``limit`` requests spaced that far apart.
  Where the budget runs thin (two requests left or fewer) or the headers are missing, the
  interval is stretched by ``TIGHT_MARGIN`` so jitter on the way cannot squeeze two
  requests closer than the server allows.
* **The server's rate** is ``limit / window``; the window is the ``reset`` of an answer
  that shows an unspent budget (``remaining ≥ limit − 1``): the whole time a budget
  takes to recover. The pace never goes above it, nor above the configured ceiling.
* **Catching up.** A request that leaves late (the loop was busy) does not push every
  later one back. The pace is a grid (GCRA's theoretical arrival time) that requests may
  run ahead of by up to ``CATCH_UP`` intervals, a quarter interval apart, and the client
  keeps its own log of when its requests went: no span of a window ever holds more than
  the window's share. Such a schedule is accepted by fixed windows, a sliding log and a
  token bucket whose burst is the limit. Once requests sent early have met a 429 three
  times in a few seconds (a bucket with a smaller burst; now and then one is jitter on the
  way), the pace is kept strictly: an interval after the last.
* **An exhausted budget** (``remaining`` minus requests still unanswered ≤ 0) is not a
  reason to sit out ``reset`` seconds: a sliding log or a token bucket recovers a request
  at a time, so pacing on is accepted. Only a budget seen to recover *in steps* (spent,
  then whole again one interval later, as fixed windows do) is held until the next step,
  projected from the send time of the request that first saw it whole.
* **AIMD** (additive increase, multiplicative decrease, as TCP): a 429 halves the rate,
  at most once a second, and pauses every request (``Retry-After``, else ``reset``,
  else backoff); a second after the last 429 the rate climbs back by a tenth of the
  ceiling a second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from bulkupdate.api.backoff import BackoffPolicy, compute_backoff
from bulkupdate.api.wire import RateHeaders

MIN_RATE = 0.2  # requests a second: never stop altogether
DECREASE_FACTOR = 0.5
DECREASE_INTERVAL = 1.0  # seconds: at most one multiplicative decrease in this time
INCREASE_SHARE_PER_SECOND = 0.1  # of the ceiling, after a second without a 429
PROBE_SHARE_PER_SECOND = 0.01  # of the ceiling, from NEAR_LOSS of the last 429's rate on
NEAR_LOSS = 0.9
TIGHT_MARGIN = 0.01  # share an interval is stretched by when the budget is thin or unknown
MAX_MARGIN = 0.16  # the widest it grows to, doubling at each 429 met within the limit
MARGIN_HALF_LIFE = 30.0  # seconds without a 429 that halve a widened margin
TIGHT_BUDGET = 2  # requests left at or below which the budget counts as thin
STEP_MARGIN = 0.002  # seconds after a projected step before sending into it
CATCH_UP = 2  # intervals a request may run ahead of the pace's grid
CATCH_UP_SPACING = 0.25  # of an interval: the closest two requests go when catching up
SEND_LOG = 1024  # send times kept; a larger limit per window is paced strictly
EARLY_REFUSALS = 3  # 429s met by requests sent early, within EARLY_SPAN seconds of each
EARLY_SPAN = 10.0  # other, before the pace is kept strictly
MAX_PAUSE = 120.0


@dataclass(slots=True)
class RateModel:
    """The rate to send at and when sending must wait; every method takes ``now``."""

    ceiling: float  # the configured rate; the rate never climbs above it
    rate: float = 0.0
    # Pacing: the last request and the interval it set for the next one.
    last_sent: float = -math.inf
    # What the server has said.
    limit: int | None = None
    window: float | None = None  # seconds a spent budget takes to recover whole
    remaining: int | None = None  # as of the latest answer; None when unknown
    unanswered: int = 0
    margin: float = TIGHT_MARGIN
    recovers_in_steps: bool = False  # seen: spent, then whole again an interval later
    step_at: float | None = None  # a send time just after a step, projected by ``window``
    catch_up: bool = True  # False once EARLY_REFUSALS requests sent early met a 429
    early_refusals: int = 0  # in a row, each within EARLY_SPAN of the one before
    _early_refused: float = -math.inf
    due: float = -math.inf  # the grid: when the next request is due at the pace
    _sends: deque[float] = field(default_factory=lambda: deque(maxlen=SEND_LOG))
    _early: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    _last_answer_sent: float = -math.inf
    _widened: float = -math.inf  # when the margin last grew or shrank
    _widening: bool = False  # the last 429 widened the margin rather than cut the rate
    # AIMD and pauses.
    paused_until: float = 0.0
    throttled: int = 0
    streak: int = 0  # 429s in a row, each met by the first requests after a pause
    last_throttle: float = -math.inf
    last_decrease: float = -math.inf
    last_increase: float = 0.0
    loss_rate: float | None = None  # the pace the last 429 came at
    backoff: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(base=1.0, cap=30.0, jitter=0.0)
    )

    def __post_init__(self) -> None:
        if not self.ceiling > 0 or math.isinf(self.ceiling):
            raise ValueError("the rate must be a finite number above zero")
        self.rate = self.rate or self.ceiling

    # -- what the server allows --------------------------------------------------------

    @property
    def server_rate(self) -> float | None:
        if self.limit is None or self.window is None:
            return None
        return max(MIN_RATE, self.limit / self.window)

    @property
    def effective_ceiling(self) -> float:
        server = self.server_rate
        return self.ceiling if server is None else min(self.ceiling, server)

    @property
    def budget(self) -> int | None:
        """Requests the server would still take now, as far as the answers tell."""
        return None if self.remaining is None else self.remaining - self.unanswered

    # -- when to send ----------------------------------------------------------------

    def current_rate(self, now: float) -> float:
        """The pacing rate, after any additive increase due since the last throttle."""
        ceiling = self.effective_ceiling
        if self.rate < ceiling and now - self.last_throttle >= 1.0:
            elapsed = now - max(self.last_increase, self.last_throttle + 1.0)
            if elapsed > 0:
                # Quickly back to just under the rate the last 429 came at, then slowly
                # past it (as CUBIC probes around its last loss): a limit that has not
                # moved is met again only rarely, one that has risen is still found.
                near_loss = self.loss_rate is not None and self.rate >= NEAR_LOSS * self.loss_rate
                share = PROBE_SHARE_PER_SECOND if near_loss else INCREASE_SHARE_PER_SECOND
                self.rate = min(ceiling, self.rate + ceiling * share * elapsed)
                self.last_increase = now
        elif self.rate > ceiling:
            self.rate = ceiling
        return self.rate

    def interval(self, now: float) -> float:
        """Seconds between requests at the current pace."""
        return self._stretch(now) / self.current_rate(now)

    def _stretch(self, now: float) -> float:
        """1, or a little more where the budget is thin or unknown (jitter on the way)."""
        if self.margin > TIGHT_MARGIN and now - self._widened >= MARGIN_HALF_LIFE:
            self.margin = max(TIGHT_MARGIN, self.margin / 2)
            self._widened = now
        budget = self.budget
        thin = budget is None or budget <= TIGHT_BUDGET
        return 1 + self.margin * thin

    def delay(self, now: float) -> float:
        """Seconds to wait before the next request may go; 0 when it may go now."""
        ready_at = max(self.paused_until, self._turn(now))
        budget = self.budget
        if self.recovers_in_steps and budget is not None and budget <= 0:
            # Spent as of the latest answer: whole again at the first step after it.
            ready_at = max(ready_at, self.next_step(self._last_answer_sent))
        return max(0.0, ready_at - now)

    def _turn(self, now: float) -> float:
        """When the pace lets the next request go: an interval after the last one, or,
        catching up, as soon as no window would hold more than the limit."""
        interval = self.interval(now)
        per_window = self._per_window(now)
        if per_window is None or per_window < 1:
            return self.last_sent + interval
        window = (self.window or 1.0) * self._stretch(now)
        full_at = -math.inf
        if len(self._sends) >= per_window:
            full_at = self._sends[-per_window] + window  # the oldest leaves the window then
        # Only at the full pace: while AIMD probes for a lower limit, a burst would be
        # refused for the pace, not for the burst.
        full_pace = self.rate >= self.effective_ceiling
        if self.catch_up and per_window >= 2 and full_pace:
            early = self.due - CATCH_UP * interval
            return max(full_at, early, self.last_sent + CATCH_UP_SPACING * interval)
        return max(full_at, self.last_sent + interval)

    def _per_window(self, now: float) -> int | None:
        """Requests one window holds at the current pace; None if too many to log."""
        per_window = math.floor(self.current_rate(now) * (self.window or 1.0) + 1e-9)
        return per_window if per_window <= SEND_LOG else None

    def next_step(self, after: float) -> float:
        """When a budget that recovers in steps is next whole after ``after``."""
        if self.step_at is None or self.window is None:
            return after
        steps = max(0, math.floor((after - self.step_at) / self.window) + 1)
        return self.step_at + steps * self.window + STEP_MARGIN

    def sent(self, now: float) -> None:
        interval = self.interval(now)
        if now < self.last_sent + interval:
            self._early.append(now)
        # GCRA: the grid moves on an interval from where it stood, or from now if it had
        # fallen behind; running ahead of it by up to CATCH_UP intervals makes up for a
        # request that left late, and bounds any burst after a quiet spell.
        self.due = max(self.due, now) + interval
        self.last_sent = now
        self._sends.append(now)
        self.unanswered += 1

    def went_out(self, now: float) -> None:
        """A request let through earlier actually left only ``now``: the next keeps its
        distance from this moment, as the server will see it."""
        if now > self.last_sent:
            if self._early and self._early[-1] == self.last_sent:
                self._early[-1] = now
            if self._sends and self._sends[-1] == self.last_sent:
                self._sends[-1] = now
            self.last_sent = now

    # -- what the answers say --------------------------------------------------------

    def answered(self, now: float, sent_at: float, headers: RateHeaders) -> None:
        """Learn from the rate headers of the answer to a request sent at ``sent_at``."""
        self.unanswered = max(0, self.unanswered - 1)
        limit, remaining, reset = headers.limit, headers.remaining, headers.reset
        if limit is None or remaining is None:
            self.remaining = None  # no headers (now): pace on what was learned
            return
        if limit != self.limit:
            self.limit = limit  # a changed limit applies at once, with the known window
        whole = remaining >= limit - 1
        if whole and reset is not None and reset > 0:
            # The first request on an unspent budget: ``reset`` is how long a budget takes
            # to recover. The longest seen wins: a fixed window met part-way says less.
            self.window = max(self.window or 0.0, float(math.ceil(reset)))
        if sent_at < self._last_answer_sent:
            return  # an older request answered late: the newer answer is the fresher word
        if self.window is not None:
            self._learn_recovery(sent_at, whole)
        self._last_answer_sent = sent_at
        self.remaining = remaining

    def _learn_recovery(self, sent_at: float, whole: bool) -> None:
        """After a spent budget, the next answer says how the budget recovers."""
        assert self.window is not None
        if self.remaining != 0:
            return
        quick = sent_at - self._last_answer_sent < self.window / 2
        if whole and quick:
            # Spent, then whole within an interval: fixed windows. The step came before
            # this request reached the server, so this send time is at or after it.
            self.recovers_in_steps = True
            if self.step_at is None:
                self.step_at = sent_at
            else:
                nearest = self.step_at + round((sent_at - self.step_at) / self.window) * self.window
                self.step_at = min(sent_at, nearest)
        elif not whole:
            self.recovers_in_steps = False  # it took one more: it recovers a little at a time

    def throttled_at(self, now: float, headers: RateHeaders, sent_at: float | None = None) -> float:
        """A 429: pause everyone and (mostly) halve the rate; returns the pause in seconds.

        A 429 met while keeping to the rate the server's headers state (or, without
        headers, the configured rate) says requests bunched up on the way: the margin
        between them doubles instead (up to ``MAX_MARGIN``) and the pause is short. So
        does one met by a request sent early (``_burst_refused``). Any other 429 halves
        the rate. The pause is ``Retry-After`` if given; else the next
        step of a budget known to recover in steps; else ``reset``; else a second (a
        typical window), doubled for each 429 in a row that met a request sent right
        after the previous pause.
        """
        self.unanswered = max(0, self.unanswered - 1)
        self.throttled += 1
        if sent_at is not None and sent_at in self._early:
            return self._burst_refused(now, headers)
        pace = self.current_rate(now)
        # The pace the server should take: its stated rate, else (no headers) the rate
        # the user configured.
        stated = self.server_rate or self.ceiling
        self.last_throttle = now
        if headers.limit is not None and headers.limit != self.limit:
            self.limit = headers.limit
        self.remaining = 0 if headers.remaining is not None else None
        # Once per second, as TCP cuts once per round trip: the 429s of requests that
        # were already in flight say nothing new about the rate, nor about the pause;
        # unless the pause was short and the first requests after it are refused too.
        recent = now - self.last_decrease < DECREASE_INTERVAL
        if recent and not (self._widening and now >= self.paused_until):
            return min(MAX_PAUSE, max(0.0, self.paused_until - now))
        self.last_decrease = now
        at_stated = NEAR_LOSS * stated <= pace <= stated * 1.001
        widen = at_stated and self.margin < MAX_MARGIN
        self._widening = widen and not recent
        if self._widening:
            self.margin = min(MAX_MARGIN, self.margin * 2)
            self._widened = now
            return self._pause(now, headers, short=2 * self.interval(now))
        sent = now if sent_at is None else sent_at
        self.streak = self.streak + 1 if sent - self.paused_until < 1.0 else 1
        self.loss_rate = pace
        self.rate = max(MIN_RATE, pace * DECREASE_FACTOR)
        return self._pause(now, headers, short=None)

    def _burst_refused(self, now: float, headers: RateHeaders) -> float:
        """A request sent early to catch up met a 429: the burst was refused, not the
        pace, so the rate stays and the pause is short. Now and then one is jitter on the
        way (the margin widens for that); several in a few seconds say the server takes
        no request closer than the pace: keep to it strictly from then on."""
        recent = now - self._early_refused <= EARLY_SPAN
        self.early_refusals = self.early_refusals + 1 if recent else 1
        self._early_refused = now
        self.catch_up = self.catch_up and self.early_refusals < EARLY_REFUSALS
        if now - self._widened >= DECREASE_INTERVAL:
            self.margin = min(MAX_MARGIN, self.margin * 2)
            self._widened = now
        self.remaining = 0 if headers.remaining is not None else None
        return self._pause(now, headers, short=2 * self.interval(now))

    def _pause(self, now: float, headers: RateHeaders, *, short: float | None) -> float:
        if headers.retry_after is not None:
            wait = headers.retry_after
        elif self.recovers_in_steps and self.step_at is not None:
            wait = self.next_step(now) - now
        elif short is not None:
            wait = short
        elif headers.reset is not None and headers.reset > 0:
            wait = headers.reset
        else:
            wait = compute_backoff(self.streak, self.backoff)
        wait = min(MAX_PAUSE, wait)
        self.paused_until = max(self.paused_until, now + wait)
        return wait

    def abandoned(self) -> None:
        """A request went without an answer (timeout, reset): stop counting it."""
        self.unanswered = max(0, self.unanswered - 1)
