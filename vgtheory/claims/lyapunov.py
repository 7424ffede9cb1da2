"""Registered claims: lyapunov."""
