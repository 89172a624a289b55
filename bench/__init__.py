"""Benchmarks against a real, throwaway Synapse: ``python bench/latency.py``."""
