"""Registered claims: foundation."""
