"""Test, demo and benchmark helpers (not used by the bot at runtime)."""
