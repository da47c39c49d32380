"""Service overhead per call in CPU instructions (load-independent): ExchangeService.fetch_ticker
vs raw ccxt fetch_ticker, each counted by valgrind's callgrind over the same calls.

``exchange_overhead.py`` times both on one loopback server; on a shared machine its CPU figures
move by a few percent from run to run. Here each side runs in its own process under callgrind
(instrumented only from the warm-up on, counted only over the measured calls, with the garbage
collector off during them), so the figure is the same whatever else the machine does. Needs
``valgrind`` (with ``callgrind_control``); takes a few minutes.

    python bench/exchange_overhead_instructions.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import exchange_overhead as timed  # noqa: E402  # the same server, response and set-up

FETCH = "BTC/USDT"


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


async def child(mode: str, calls: int) -> None:
    """Under callgrind: set up both sides, warm up, count ``calls`` calls of ``mode`` only."""
    from omegafarm.exchange.testing import LoopbackExchangeServer

    body, _ = timed.ticker_body()
    async with LoopbackExchangeServer(body) as server:
        raw, service = timed.make_sides(server.url)
        async with service:
            client = service.get_exchange_client()
            client.set_markets([client.safe_market_structure(timed.MARKET)])
            _callgrind("-i", "on")
            for _ in range(20):
                await raw.fetch_ticker(FETCH)
                await service.fetch_ticker(FETCH)
            call = raw.fetch_ticker if mode == "raw" else service.fetch_ticker
            gc.collect()
            gc.disable()
            _callgrind("-z")
            for _ in range(calls):
                await call(FETCH)
            _callgrind("-d")
            gc.enable()
        await raw.close()


def count(mode: str, calls: int, out: Path) -> subprocess.Popen[bytes]:
    """Start one side under callgrind."""
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
        sys.executable, __file__, "--child", mode, "--calls", str(calls),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def instructions(dump: Path) -> int:
    """The instructions counted between the zero and the dump."""
    for line in dump.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise SystemExit(f"no summary line in {dump}: did callgrind_control reach the process?")


def main(calls: int) -> dict[str, Any]:
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: install valgrind to count instructions")
    work = Path(tempfile.mkdtemp())
    runs = {mode: count(mode, calls, work / f"cg.{mode}") for mode in ("raw", "service")}
    for mode, process in runs.items():
        if process.wait() != 0:
            raise SystemExit(f"the {mode} side failed under valgrind (exit {process.returncode})")
    per_call = {mode: instructions(work / f"cg.{mode}.1") / calls for mode in runs}
    ours, base = per_call["service"], per_call["raw"]
    print(f"{calls} calls each; instructions per call:", file=sys.stderr)
    print(f"raw ccxt  {base:10.0f}", file=sys.stderr)
    print(f"service   {ours:10.0f}  (+{ours - base:.0f})", file=sys.stderr)
    return {
        "bench": "exchange_overhead_instructions",
        "ours": round(ours),
        "baseline": round(base),
        "baseline_name": "raw ccxt.async_support.binance fetch_ticker, same loopback server",
        "unit": "instructions/call",
        "ratio": round(ours / base, 3),
        "better": "lower",
        "overhead": round(ours - base),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--child", choices=["raw", "service"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.calls))
    else:
        print(json.dumps(main(args.calls)))
