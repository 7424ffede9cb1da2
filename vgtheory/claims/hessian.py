"""Registered claims: hessian."""
