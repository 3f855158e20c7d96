"""Operators: each runs one IR node over partitions, through the Kernels protocol only."""
