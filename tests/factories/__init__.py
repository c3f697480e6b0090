"""Test factories: keyword-only async helpers with safe defaults."""
