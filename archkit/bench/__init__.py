"""Benchmarks behind `archkit bench`: each measures archkit against a baseline in the same run."""
