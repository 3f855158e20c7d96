"""The conversions every query result offers once it is an Arrow table, shared by the embedded
``DataFrame`` and the remote ``RemoteDataFrame``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    import pyarrow as pa

__all__ = ["ResultConversions"]


class ResultConversions:
    """``to_pandas`` / ``to_pylist`` / ``to_pydict`` over the subclass's ``to_arrow``."""

    def to_arrow(self) -> pa.Table:
        raise NotImplementedError

    def to_pandas(self) -> pandas.DataFrame:
        """Run the query; its rows as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def to_pylist(self) -> list[dict[str, Any]]:
        """Run the query; its rows as a list of ``{column: value}`` dicts."""
        return self.to_arrow().to_pylist()

    def to_pydict(self) -> dict[str, list[Any]]:
        """Run the query; its columns as ``{column: [values]}``."""
        return self.to_arrow().to_pydict()
