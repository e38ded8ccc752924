"""Test doubles that ship with the package (like httpx's MockTransport)."""
