"""A run that uses real-looking credentials never shows them: logs, errors, repr, metrics.

The loopback exchange is hostile on purpose: its error bodies echo the API key it received and
the secret, the way badly behaved venues quote requests back. Everything the run can show is
captured (structlog events, stdlib logging at DEBUG including ccxt's request dumps, stdout,
stderr, exception messages, their causes and tracebacks, reprs, metrics, health) and searched.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from omegafarm.exchange import ExchangeService, ExchangeSettings
from omegafarm.exchange.testing import LoopbackExchangeServer, RecordedRequest, Reply
from omegafarm.exchange.vault import Credentials, MasterKey, Secret, Vault
from tests.exchange._binance import btc_usdt_market
from tests.exchange._replay import install_markets

API_KEY = "LEAKCHECK-apikey-q8Zr2LmN4vX7"
API_SECRET = "LEAKCHECK-secret-Tn5Kp0Wd3Hs9"
PASSPHRASE = "LEAKCHECK-pass-Jb6Fy1"
SECRETS = (API_KEY, API_SECRET, PASSPHRASE)


async def _hostile(request: RecordedRequest) -> Reply:
    echoed = request.headers.get("X-MBX-APIKEY", "")
    if request.path.endswith("/account"):
        body = {"code": -2015, "msg": f"Invalid API-key {echoed}, secret {API_SECRET}"}
        return Reply(body, status=401)
    if request.path.endswith("/order"):
        return Reply({"code": -2010, "msg": f"rejected for key {echoed}"}, status=400)
    return Reply({"code": -1121, "msg": f"Invalid symbol for {echoed}"}, status=400)


async def test_secrets_never_appear_in_any_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    master = MasterKey.generate()
    vault = Vault.open(tmp_path / "vault.json", master, create=True)
    vault.add(
        Credentials(
            exchange="binance",
            key_id="binance",
            owner="default",
            api_key=Secret(API_KEY),
            secret=Secret(API_SECRET),
            passphrase=Secret(PASSPHRASE),
        )
    )
    shown: list[str] = []
    caplog.set_level(logging.DEBUG)
    server = LoopbackExchangeServer(handler=_hostile)
    with capture_logs() as events:
        async with server:
            settings = ExchangeSettings(
                exchange_id="binance",
                api_base_url=server.url,
                load_markets_on_start=False,
                ohlcv_cache_path=tmp_path / "c.sqlite",
                max_read_attempts=1,
            )
            service = ExchangeService(settings, vault=Vault.open(tmp_path / "vault.json", master))
            async with service:
                install_markets(service.get_exchange_client(), {"BTC/USDT": btc_usdt_market()})
                for call in (
                    service.fetch_balance(),
                    service.fetch_ticker("BTC/USDT"),
                    service.create_order("BTC/USDT", "limit", "buy", "0.01", "43000"),
                ):
                    with pytest.raises(Exception) as caught:  # noqa: PT011  # any error will do
                        await call
                    exc = caught.value
                    shown += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
                shown += [repr(service), str(service.get_metrics()), repr(await service.health())]
                shown += [repr(service._credentials), repr(vault)]
    out, err = capsys.readouterr()
    shown += [out, err, caplog.text, repr(events)]
    # The run did exercise the hostile paths: the server really saw the key.
    assert any(r.headers.get("X-MBX-APIKEY") == API_KEY for r in server.requests)
    assert any("authentication failed" in text for text in shown)
    everything = "\n".join(shown)
    for secret in SECRETS:
        assert secret not in everything
