"""The paper engine's scheduling: which bar event of which symbol happens next, and the clock.

Matching (what an event does to orders) is the engine's; this module only decides *when*.
Per symbol it keeps two cursors: the first bar not yet closed and the first bar not yet opened.
Moving the clock to ``ts_ms`` plays every due event of every symbol in time order (a close
before an open at the same instant, an open before an arrival), so money freed by one symbol's
fill is available to another's later event, never an earlier one. Three kinds of event:

1. a bar's *open* (due once the clock has moved past its open time);
2. an intrabar *arrival* (only with intrabar fills): a market order reaching the book in the
   middle of a bar that is open, at its arrival time;
3. a bar's *close* (due at its close time).

The fast path (``PaperSettings.fast_path``): a symbol whose events can change nothing (no
order waits on it, no position of it could be liquidated) jumps its remaining bars in one
step instead of playing them one by one. Both ways reach the same cursors and outcomes.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from typing import Protocol

from omegafarm.exchange.paper._source import Candles, MarketSource

_CLOSE, _OPEN, _ARRIVAL = 0, 1, 2  # at equal times: close, then open, then arrivals
Event = tuple[int, int, int, str]  # (time, kind, rank, symbol)


class BarEvents(Protocol):
    """What the schedule drives: the matching engine."""

    def open_bar(self, symbol: str, c: Candles, i: int) -> None:
        """Bar ``i`` opened: orders that arrived by its open meet the book."""
        ...

    def close_bar(self, symbol: str, c: Candles, i: int) -> None:
        """Bar ``i`` closed: resting orders and liquidations."""
        ...

    def arrive_intrabar(self, symbol: str, c: Candles, i: int, at_ms: int) -> None:
        """Orders arriving at ``at_ms``, inside the open bar ``i``, meet the book there."""
        ...

    def idle(self, symbol: str) -> bool:
        """Whether the symbol's events can change nothing now."""
        ...

    def next_arrival(self, symbol: str, after_ms: int) -> int | None:
        """The earliest intrabar arrival time after ``after_ms`` still waiting, if any."""
        ...


class BarSchedule:
    """The clock and the bar cursors of every symbol of one source."""

    def __init__(
        self,
        source: MarketSource,
        tf_ms: int,
        now_ms: int,
        *,
        fast: bool = True,
        intrabar: bool = False,
    ) -> None:
        self.source = source
        self.tf_ms = tf_ms
        self.now_ms = now_ms
        self.fast = fast
        self.intrabar = intrabar
        self._next: dict[str, int] = {}  # per symbol: the first bar not yet closed
        for symbol in source.specs:
            ts = source.candles(symbol, now_ms).ts_list()
            self._next[symbol] = bisect_right(ts, now_ms - tf_ms)
        self._opened = dict(self._next)  # the first bar not yet opened (_next or _next + 1)
        self._only = next(iter(self._next)) if len(self._next) == 1 else None  # one symbol

    def closed(self, symbol: str) -> int:
        """How many bars of ``symbol`` are closed."""
        return self._next[symbol]

    def cursors(self) -> tuple[dict[str, int], dict[str, int]]:
        """(first bar not closed, first bar not opened) per symbol: a copy, for comparisons."""
        return dict(self._next), dict(self._opened)

    def advance_to(self, ts_ms: int, events: BarEvents) -> int:
        """Move the clock to ``ts_ms`` playing every due event in time order; returns the
        number of bars closed."""
        if ts_ms < self.now_ms:
            raise ValueError(f"the paper clock only moves forward ({ts_ms} < {self.now_ms})")
        if self._only is not None:
            return self._advance_one(self._only, ts_ms, events)
        closed = 0
        heap: list[Event] = []
        for rank, symbol in enumerate(self._next):
            closed += self._schedule(heap, rank, symbol, ts_ms, events)
        while heap:
            at_ms, kind, rank, symbol = heapq.heappop(heap)
            closed += self._play(symbol, kind, at_ms, ts_ms, events)
            closed += self._schedule(heap, rank, symbol, ts_ms, events)
        self.now_ms = ts_ms
        return closed

    def _advance_one(self, symbol: str, ts_ms: int, events: BarEvents) -> int:
        """``advance_to`` for a source of one symbol (every backtest): the queue would never
        hold more than that symbol's next event, so its events are played without one."""
        closed = 0
        while True:
            if self.fast and events.idle(symbol):
                closed += self._jump(symbol, ts_ms)
                break
            due = self._due(symbol, ts_ms, events)
            if due is None:
                break
            closed += self._play(symbol, due[1], due[0], ts_ms, events)
        self.now_ms = ts_ms
        return closed

    def _play(self, symbol: str, kind: int, at_ms: int, ts_ms: int, events: BarEvents) -> int:
        """Play one event of ``symbol`` at ``at_ms``; returns the bars it closed (0 or 1)."""
        c = self.source.candles(symbol, ts_ms)
        self.now_ms = max(self.now_ms, at_ms)
        if kind == _OPEN:
            i = self._opened[symbol]
            events.open_bar(symbol, c, i)
            self._opened[symbol] = i + 1
            return 0
        if kind == _ARRIVAL:
            events.arrive_intrabar(symbol, c, self._next[symbol], at_ms)
            return 0
        i = self._next[symbol]
        events.close_bar(symbol, c, i)
        self._next[symbol] = i + 1
        return 1

    def _schedule(
        self, heap: list[Event], rank: int, symbol: str, ts_ms: int, events: BarEvents
    ) -> int:
        """Queue the symbol's next due event, or, once it is idle (say its last order just
        filled), jump its remaining bars; returns the bars closed by a jump."""
        if self.fast and events.idle(symbol):
            return self._jump(symbol, ts_ms)
        due = self._due(symbol, ts_ms, events)
        if due is not None:
            heapq.heappush(heap, (due[0], due[1], rank, symbol))
        return 0

    def _jump(self, symbol: str, ts_ms: int) -> int:
        """Open and close an idle symbol's bars up to ``ts_ms`` in one step (the same indices
        the event loop would reach, since its events would do nothing); returns bars closed.

        Events of different symbols interleave only through money, and an idle symbol moves
        none, so skipping its events leaves every other symbol's outcome unchanged."""
        ts = self.source.candles(symbol, ts_ms).ts_list()
        i = self._next[symbol]
        nxt = max(i, bisect_right(ts, ts_ms - self.tf_ms))
        self._next[symbol] = nxt
        opened = nxt < len(ts) and ts[nxt] < ts_ms
        self._opened[symbol] = max(self._opened[symbol], nxt + 1 if opened else nxt)
        return nxt - i

    def _due(self, symbol: str, ts_ms: int, events: BarEvents) -> tuple[int, int] | None:
        """The symbol's next event (time, kind) if it is due by ``ts_ms``: the open of its
        next bar (due once the clock is past it), an intrabar arrival inside its open bar, or
        the close of its open bar (due at its close)."""
        i = self._next[symbol]
        ts = self.source.candles(symbol, ts_ms).ts_list()
        if i >= len(ts):
            return None
        bar_ts = ts[i]
        if self._opened[symbol] > i:
            end = bar_ts + self.tf_ms
            if self.intrabar:
                at = events.next_arrival(symbol, bar_ts)
                if at is not None and at < end and at <= ts_ms:
                    return max(at, self.now_ms), _ARRIVAL
            return (end, _CLOSE) if end <= ts_ms else None
        return (bar_ts, _OPEN) if bar_ts < ts_ms else None
