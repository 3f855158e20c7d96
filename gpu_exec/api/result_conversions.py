"""The conversions every query result offers once it is an Arrow table, shared by the embedded
``DataFrame`` and the remote ``RemoteDataFrame``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow as pa

__all__ = ["ResultConversions"]


class ResultConversions:
    """``to_pandas`` / ``to_polars`` / ``to_pylist`` / ``to_pydict`` and the Arrow PyCapsule
    stream interface over the subclass's ``to_arrow``."""

    def to_arrow(self) -> pa.Table:
        raise NotImplementedError

    def to_pandas(self) -> pandas.DataFrame:
        """Run the query; its rows as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> polars.DataFrame:
        """Run the query; its rows as a polars DataFrame (polars must be installed)."""
        try:
            import polars
        except ImportError:
            raise ImportError("to_polars() needs polars: pip install polars") from None
        frame = polars.from_arrow(self.to_arrow())
        assert isinstance(frame, polars.DataFrame)
        return frame

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The Arrow C stream of the result (PyCapsule protocol), so that any Arrow consumer
        (``pa.table(df)``, polars, DuckDB) reads it; the query runs and is collected first."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def to_pylist(self) -> list[dict[str, Any]]:
        """Run the query; its rows as a list of ``{column: value}`` dicts."""
        return self.to_arrow().to_pylist()

    def to_pydict(self) -> dict[str, list[Any]]:
        """Run the query; its columns as ``{column: [values]}``."""
        return self.to_arrow().to_pydict()
