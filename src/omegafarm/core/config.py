"""Layered configuration: defaults < TOML file < environment (``OMEGA_``, ``__``) < arguments.

The root settings class (``omegafarm.settings.Settings``) subclasses :class:`OmegaSettings`;
each service owns one section (a pydantic model with ``extra="forbid"``). :func:`load_settings`
is called once at the entry point and the result is passed down: there is no global settings
object. A bad file or value raises :class:`~omegafarm.core.errors.ConfigError` naming the key,
the source it came from and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import pydantic
from pydantic import BaseModel, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from omegafarm.core.errors import ConfigError

ENV_PREFIX = "OMEGA_"
ENV_NESTING = "__"
CONFIG_FILE_ENV = "OMEGA_CONFIG"

_toml_file: ContextVar[Path | None] = ContextVar("omega_toml_file", default=None)

S = TypeVar("S", bound="OmegaSettings")


class _AliasedEnvSource(PydanticBaseSettingsSource):
    """Older variable names (``OMEGA_MASTER_KEY``...) for keys of the tree (``vault.master_key``):
    read below the ``OMEGA_SECTION__KEY`` variables, above the file; empty means unset."""

    def __init__(self, settings_cls: type[BaseSettings], aliases: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._aliases = aliases

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for variable, dotted in self._aliases.items():
            value = os.environ.get(variable, "")
            if not value:
                continue
            *sections, key = dotted.split(".")
            node = out
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = value
        return out


class OmegaSettings(BaseSettings):
    """Base of the root settings tree: wires the TOML file and the environment as sources."""

    # Older environment variable -> dotted key of the tree (e.g. "vault.master_key").
    env_aliases: ClassVar[Mapping[str, str]] = {}

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTING,
        extra="forbid",
        case_sensitive=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        aliases: Mapping[str, str] = getattr(settings_cls, "env_aliases", {})
        if aliases:
            sources.append(_AliasedEnvSource(settings_cls, aliases))
        path = _toml_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def config_file_from_env() -> Path | None:
    """The config file named by ``OMEGA_CONFIG``, if any."""
    value = os.environ.get(CONFIG_FILE_ENV, "").strip()
    return Path(value) if value else None


def load_settings(
    settings_cls: type[S],
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> S:
    """Build the effective settings, or raise ConfigError with a precise message."""
    file_data: dict[str, Any] = {}
    if config_file is not None:
        file_data = _read_toml(config_file)
    token = _toml_file.set(config_file)
    try:
        return settings_cls(**dict(overrides or {}))
    except pydantic.ValidationError as exc:
        aliases = getattr(settings_cls, "env_aliases", {})
        explained = _explain(exc, config_file, file_data, dict(overrides or {}), aliases)
        raise ConfigError(explained) from None
    finally:
        _toml_file.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _explain(
    exc: pydantic.ValidationError,
    config_file: Path | None,
    file_data: dict[str, Any],
    overrides: dict[str, Any],
    aliases: Mapping[str, str],
) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        key = ".".join(loc)
        source = _source_of(loc, config_file, file_data, overrides, aliases)
        allowed = _allowed(err)
        given = "" if err["type"] == "missing" else f" (got {_safe_repr(key, err.get('input'))})"
        lines.append(f"{key}: {err['msg']}{given}; from {source}; {allowed}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _source_of(
    loc: list[str],
    config_file: Path | None,
    file_data: dict[str, Any],
    overrides: dict[str, Any],
    aliases: Mapping[str, str],
) -> str:
    if _has_path(overrides, loc):
        return "command-line arguments"
    env_name = ENV_PREFIX + ENV_NESTING.join(part.upper() for part in loc)
    for name in os.environ:
        upper = name.upper()
        if upper == CONFIG_FILE_ENV or not upper.startswith(ENV_PREFIX):
            continue
        if upper == env_name or env_name.startswith(upper + ENV_NESTING):
            return f"environment variable {name}"
    for name, dotted in aliases.items():
        if dotted.split(".") == loc and os.environ.get(name):
            return f"environment variable {name}"
    if config_file is not None and _has_path(file_data, loc):
        return f"config file {config_file} [{'.'.join(loc[:-1]) or 'top level'}] {loc[-1]}"
    if config_file is not None and _has_path(file_data, loc[:1]):
        return f"config file {config_file}"
    return "defaults"


def _has_path(data: Mapping[str, Any], loc: list[str]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping):
            return False
        match = next((k for k in node if str(k).lower() == part.lower()), None)
        if match is None:
            return False
        node = node[match]
    return True


def _allowed(err: Mapping[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "extra_forbidden":
        return "this key is not known here (check the spelling; `omega config show` lists keys)"
    if "expected" in ctx:
        return f"allowed: {ctx['expected']}"
    bounds = {
        k: v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le", "pattern", "min_length")
    }
    if bounds:
        return "allowed: " + ", ".join(f"{k} {v}" for k, v in bounds.items())
    return f"expected a valid {kind.split('_')[0]}"


def _safe_repr(key: str, value: object) -> str:
    last = key.lower().rsplit(".", 1)[-1]
    if any(word in key.lower() for word in SECRET_WORDS) or last in ("url", "dsn"):
        return "'***'"  # URLs usually carry a password
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


SECRET_WORDS = ("secret", "password", "token", "passphrase", "api_key", "apikey", "master_key")


def iter_secrets(model: BaseModel) -> Iterator[str]:
    """Every SecretStr value inside a settings tree (for the log redactor)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                yield secret
        elif isinstance(value, BaseModel):
            yield from iter_secrets(value)


def masked_dump(model: BaseModel) -> dict[str, Any]:
    """The settings as plain data with every secret masked (for `omega config show`)."""
    return model.model_dump(mode="json")


class LogSettings(BaseModel):
    """Logging (section ``[log]``)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"
