"""Numpy-only domain code: labels, windowing, geometry and triage rules."""
