"""The public API: sessions (embedded and remote), DataFrames, statements and DDL, results."""
