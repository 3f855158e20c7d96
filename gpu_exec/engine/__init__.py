"""The engine core: the Kernels protocol, the execution context, the driver and the operators."""
