"""Improve an agent from its bad cases: example banks, routing calibration, prompt optimisers."""
