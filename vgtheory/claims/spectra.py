"""Registered claims: spectra."""
