"""Registered claims: mechanisms."""
