"""Routers of the HTTP API, one module per service (thin: validate, call, render)."""
