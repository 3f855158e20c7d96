"""Test and benchmark support shared by tests, benchmarks and ``gpu-exec tpch``: result comparison, the TPC-H kit."""
