"""The GPU backend: the Kernels protocol on pylibcudf, its capability table, RMM memory, the device wire format."""
