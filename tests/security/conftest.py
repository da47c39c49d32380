"""A CLI runner that puts the logging configuration back after each in-process command."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from typer.testing import CliRunner


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    """``omega`` in-process, with structlog and the root logger restored afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield CliRunner()
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
