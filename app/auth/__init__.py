"""Logging in: staff (per clinic membership) and platform operators."""
