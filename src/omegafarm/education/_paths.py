"""Where the shipped content lives (a module of its own, so finding it imports nothing)."""

from __future__ import annotations

from pathlib import Path

SHIPPED_CONTENT_DIR = Path(__file__).resolve().parent / "content"
