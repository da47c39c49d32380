"""``omega data``: download candle history into the local cache and to CSV or Parquet files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omegafarm.cli._app import console, err_console, fail, load_settings_or_exit
from omegafarm.core.errors import OmegaError

# the exchange modules import ccxt and aiohttp: loaded when a download runs, not for --help

app = typer.Typer(help="Market data: candle history downloads.", no_args_is_help=True)


async def _run(section: Any, args: dict[str, Any], progress: Progress) -> tuple[Any, int]:
    from omegafarm.exchange.history import download as download_history
    from omegafarm.exchange.history import timeframe_ms
    from omegafarm.exchange.service import ExchangeService

    async with ExchangeService(section) as service:
        timeframe_ms(service, args["timeframe"])  # a bad timeframe fails before the bar shows
        task = progress.add_task(f"{args['symbol']} {args['timeframe']}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        rows = await download_history(service, **args, on_progress=advance)
        requests = int(service.get_metrics()["operations"].get("fetch_ohlcv", 0))
    return rows, requests


@app.command("download")
def download(
    ctx: typer.Context,
    exchange: Annotated[str, typer.Option("--exchange", help="paper or a ccxt id.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Unified symbol, e.g. BTC/USDT.")],
    since: Annotated[str, typer.Option("--since", help="First bar: 2024-01-31[T12:00] or ms.")],
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar size, e.g. 5m.")] = "1m",
    until: Annotated[
        str | None, typer.Option("--until", help="End (exclusive; default: now).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write FILE.csv or FILE.parquet.")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Candle cache file (default: the configured).")
    ] = None,
) -> None:
    """Fetch closed candles of a range (paged, gap-free, cached: a second run asks nothing)."""
    from omegafarm.exchange.factory import check_exchange_id
    from omegafarm.exchange.history import parse_when_ms, write_candles

    overrides: dict[str, Any] = {"exchange_id": exchange, "load_markets_on_start": False}
    if cache is not None:
        overrides["ohlcv_cache_path"] = str(cache)
    settings = load_settings_or_exit(ctx, {"exchange": overrides})
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        check_exchange_id(exchange)  # an unknown id fails here, before anything starts
        if out is not None and out.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise fail(f"--out {out} must end in .csv or .parquet")
        args = {
            "symbol": symbol,
            "timeframe": timeframe,
            "since_ms": parse_when_ms(since, option="--since"),
            "until_ms": None if until is None else parse_when_ms(until, option="--until"),
        }
        with Progress(*columns, TimeElapsedColumn(), console=err_console) as progress:
            rows, requests = asyncio.run(_run(settings.exchange, args, progress))
        if out is not None:
            write_candles(out, rows)
    except OmegaError as exc:
        raise fail(str(exc)) from None
    where = f" → {out}" if out is not None else ""
    console.print(
        f"{exchange} {symbol} {timeframe}: {len(rows)} candles, "
        f"exchange requests: {requests}{where}",
        highlight=False,
    )
