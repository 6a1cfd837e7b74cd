"""Isolated execution of untrusted programs (see docs/architecture.md)."""
