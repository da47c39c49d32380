"""Redis settings: one topology, named clearly; bad combinations refused with the reason."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from omegafarm.core.errors import ConfigError
from omegafarm.store import RedisClient, RedisSettings


@pytest.mark.parametrize(
    ("fields", "topology"),
    [
        ({}, "embedded"),
        ({"url": "redis://h:6379/0"}, "standalone"),
        ({"url": "valkeys://h:6380"}, "standalone"),
        ({"url": "redis+sentinel://h1:26379,h2:26379/mymaster"}, "sentinel"),
        ({"sentinels": ["h1:26379"], "master_name": "mymaster"}, "sentinel"),
        ({"url": "redis+cluster://h1:7000,h2:7000"}, "cluster"),
        ({"url": "redis://h1:7000", "cluster": True}, "cluster"),
    ],
    ids=[
        "embedded",
        "url",
        "valkey-tls",
        "sentinel-url",
        "sentinel-list",
        "cluster-url",
        "cluster-flag",
    ],
)
def test_the_topology_follows_from_one_setting(fields: dict[str, object], topology: str) -> None:
    assert RedisSettings.model_validate(fields).topology == topology


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sentinels": ["h1:26379"]}, "master_name"),
        ({"sentinels": ["h1"], "master_name": "m"}, "host:port"),
        ({"sentinels": ["h1:26379"], "master_name": "m", "url": "redis://h"}, "not both"),
        ({"cluster": True}, "needs a url"),
        ({"cluster": True, "url": "redis+sentinel://h:26379/m"}, "cannot be combined"),
        ({"cluster": True, "url": "unix:///tmp/x.sock"}, "TCP"),
        ({"url": "memcached://h"}, "is not one of"),
        ({"url": "redis://h", "password": "x"}, "put them in the url"),
        ({"url": "redis://h", "sentinel_password": "x"}, "sentinel_password needs"),
    ],
    ids=[
        "no-master-name",
        "bad-host-port",
        "url-and-sentinels",
        "cluster-no-url",
        "cluster-and-sentinel",
        "cluster-unix",
        "unknown-scheme",
        "password-with-url",
        "sentinel-password-without-sentinels",
    ],
)
def test_conflicting_settings_are_refused_with_the_reason(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(PydanticValidationError, match=message):
        RedisSettings.model_validate(fields)


async def test_a_sentinel_url_without_a_master_name_is_a_configuration_error() -> None:
    client = RedisClient(
        RedisSettings(url=SecretStr("redis+sentinel://127.0.0.1:1,127.0.0.1:2")),
        metrics_registry=CollectorRegistry(),
    )
    with pytest.raises(ConfigError, match="master name"):
        await client.initialize()


def test_the_password_of_a_sentinel_group_is_never_shown() -> None:
    settings = RedisSettings(
        sentinels=["h:26379"], master_name="m", password=SecretStr("s3cret"),
        sentinel_password=SecretStr("t0ken"),
    )  # fmt: skip
    assert "s3cret" not in repr(settings) and "t0ken" not in repr(settings)
    assert "s3cret" not in settings.model_dump_json()
