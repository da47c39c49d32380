"""Omega Bot Farm: core services for a farm of crypto trading bots."""

__version__ = "0.1.0"
__all__ = ["__version__"]
