"""The ``gpu-exec`` command line: every subcommand and its arguments."""
