"""gpu-exec: a distributed SQL engine for GPU clusters, with a CPU fallback everywhere."""
