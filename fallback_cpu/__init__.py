"""The CPU backend: the Kernels protocol on pyarrow.compute and acero."""
