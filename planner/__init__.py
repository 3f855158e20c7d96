"""SQL planning: DataFusion's optimized plan translated into gpu-exec's own typed IR."""
