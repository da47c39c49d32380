"""A CLI runner that puts the logging configuration back after each in-process command."""

from __future__ import annotations
