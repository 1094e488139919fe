"""Benchmarks: each figure is printed beside the raw limit measured in the same run."""
