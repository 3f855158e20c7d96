"""The answers of Flight SQL's metadata commands, as Arrow tables in the schemas the protocol fixes.

GetCatalogs / GetDbSchemas / GetTables / GetTableTypes describe the session's catalog (one catalog
``datafusion`` with one schema ``public``, as DataFusion names them, so ``datafusion.public.t``
works in SQL too); GetSqlInfo describes the server, GetXdbcTypeInfo its SQL types; the key commands answer empty tables: gpu-exec
tables have no declared keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import pyarrow as pa

from gpu_exec.api.substrait import SUBSTRAIT_MAX_VERSION, SUBSTRAIT_MIN_VERSION

if TYPE_CHECKING:
    from scheduler.protocol.proto import flight_sql_pb2 as pb

__all__ = [
    "CATALOG",
    "DB_SCHEMA",
    "TABLE_TYPES",
    "catalogs",
    "db_schemas",
    "tables",
    "table_types",
    "sql_info",
    "sql_info_values",
    "KEYS_SCHEMA",
    "PRIMARY_KEYS_SCHEMA",
    "CATALOGS_SCHEMA",
    "DB_SCHEMAS_SCHEMA",
    "TABLE_TYPES_SCHEMA",
    "SQL_INFO_SCHEMA",
    "tables_schema",
    "XDBC_TYPE_INFO_SCHEMA",
    "xdbc_type_info",
]

CATALOG = "datafusion"
DB_SCHEMA = "public"
TABLE_TYPES = ("TABLE", "VIEW")

CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])
DB_SCHEMAS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()),
                               pa.field("db_schema_name", pa.utf8(), nullable=False)])
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])
PRIMARY_KEYS_SCHEMA = pa.schema([
    pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
    pa.field("table_name", pa.utf8(), nullable=False), pa.field("column_name", pa.utf8(), nullable=False),
    pa.field("key_name", pa.utf8()), pa.field("key_sequence", pa.int32(), nullable=False),
])
# GetExportedKeys, GetImportedKeys and GetCrossReference share one schema.
KEYS_SCHEMA = pa.schema([
    pa.field("pk_catalog_name", pa.utf8()), pa.field("pk_db_schema_name", pa.utf8()),
    pa.field("pk_table_name", pa.utf8(), nullable=False), pa.field("pk_column_name", pa.utf8(), nullable=False),
    pa.field("fk_catalog_name", pa.utf8()), pa.field("fk_db_schema_name", pa.utf8()),
    pa.field("fk_table_name", pa.utf8(), nullable=False), pa.field("fk_column_name", pa.utf8(), nullable=False),
    pa.field("key_sequence", pa.int32(), nullable=False), pa.field("fk_key_name", pa.utf8()),
    pa.field("pk_key_name", pa.utf8()), pa.field("update_rule", pa.uint8(), nullable=False),
    pa.field("delete_rule", pa.uint8(), nullable=False),
])

# GetSqlInfo's value column: a dense union whose type codes are the protocol's.
_SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", pa.utf8()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.field("item", pa.utf8()))),
    pa.field("int32_to_int32_list_map",
             pa.map_(pa.int32(), pa.list_(pa.field("item", pa.int32())))),
])
SQL_INFO_SCHEMA = pa.schema([pa.field("info_name", pa.uint32(), nullable=False),
                             pa.field("value", _SQL_INFO_VALUE, nullable=False)])


def tables_schema(include_schema: bool) -> pa.Schema:
    fields = [pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
              pa.field("table_name", pa.utf8(), nullable=False), pa.field("table_type", pa.utf8(), nullable=False)]
    if include_schema:
        fields.append(pa.field("table_schema", pa.binary(), nullable=False))
    return pa.schema(fields)


def _like(pattern: str | None) -> re.Pattern[str] | None:
    """A Flight SQL filter pattern ('%' any run, '_' one character; None: everything) as a regex."""
    if pattern is None:
        return None
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _matches(regex: re.Pattern[str] | None, value: str) -> bool:
    return regex is None or regex.fullmatch(value) is not None


def catalogs() -> pa.Table:
    return pa.table([[CATALOG]], schema=CATALOGS_SCHEMA)


def _catalog_matches(catalog: str | None) -> bool:
    return catalog is None or catalog == CATALOG


def db_schemas(command: pb.CommandGetDbSchemas) -> pa.Table:
    catalog = command.catalog if command.HasField("catalog") else None
    pattern = command.db_schema_filter_pattern if command.HasField("db_schema_filter_pattern") else None
    found = _catalog_matches(catalog) and _matches(_like(pattern), DB_SCHEMA)
    rows = [[CATALOG], [DB_SCHEMA]] if found else [[], []]
    return pa.table(rows, schema=DB_SCHEMAS_SCHEMA)


def tables(command: pb.CommandGetTables, infos: Iterable[tuple[str, str, pa.Schema]]) -> pa.Table:
    """``infos``: (name, "TABLE" | "VIEW", schema) of every table and view of the session."""
    catalog = command.catalog if command.HasField("catalog") else None
    schema_pattern = command.db_schema_filter_pattern if command.HasField("db_schema_filter_pattern") else None
    name_regex = _like(command.table_name_filter_pattern if command.HasField("table_name_filter_pattern") else None)
    wanted_types = set(command.table_types)
    selected: list[tuple[str, str, pa.Schema]] = []
    if _catalog_matches(catalog) and _matches(_like(schema_pattern), DB_SCHEMA):
        selected = sorted((name, kind, schema) for name, kind, schema in infos
                          if _matches(name_regex, name) and (not wanted_types or kind in wanted_types))
    columns: list[Sequence[Any]] = [[CATALOG] * len(selected), [DB_SCHEMA] * len(selected),
                                    [name for name, _, _ in selected], [kind for _, kind, _ in selected]]
    if command.include_schema:
        columns.append([schema.serialize().to_pybytes() for _, _, schema in selected])
    return pa.table(columns, schema=tables_schema(command.include_schema))


def table_types() -> pa.Table:
    return pa.table([sorted(TABLE_TYPES)], schema=TABLE_TYPES_SCHEMA)


# The SqlInfo ids of the protocol this server answers (ids 0-9 server, 500+ SQL syntax).
SERVER_NAME, SERVER_VERSION, SERVER_ARROW_VERSION, SERVER_READ_ONLY, SERVER_SQL = 0, 1, 2, 3, 4
SERVER_SUBSTRAIT, SERVER_SUBSTRAIT_MIN_VERSION, SERVER_SUBSTRAIT_MAX_VERSION = 5, 6, 7
SERVER_TRANSACTION, SERVER_CANCEL = 8, 9
SQL_DDL_CATALOG, SQL_DDL_SCHEMA, SQL_DDL_TABLE, SQL_IDENTIFIER_QUOTE_CHAR = 500, 501, 502, 504
SQL_SEARCH_STRING_ESCAPE = 513
_TYPE_CODES = {str: 0, bool: 1, int: 2}


def sql_info_values(version: str) -> dict[int, str | bool | int]:
    """What GetSqlInfo answers, by info id."""
    return {
        SERVER_NAME: "gpu-exec",
        SERVER_VERSION: version,
        SERVER_ARROW_VERSION: pa.__version__,
        SERVER_READ_ONLY: False,
        SERVER_SQL: True,
        SERVER_SUBSTRAIT: True,  # CommandStatementSubstraitPlan, CreatePreparedSubstraitPlan
        SERVER_SUBSTRAIT_MIN_VERSION: SUBSTRAIT_MIN_VERSION,
        SERVER_SUBSTRAIT_MAX_VERSION: SUBSTRAIT_MAX_VERSION,
        SERVER_TRANSACTION: 0,  # SQL_SUPPORTED_TRANSACTION_NONE
        SERVER_CANCEL: True,
        SQL_DDL_CATALOG: False,
        SQL_DDL_SCHEMA: False,
        SQL_DDL_TABLE: True,
        SQL_IDENTIFIER_QUOTE_CHAR: '"',
        SQL_SEARCH_STRING_ESCAPE: "\\",
    }


def sql_info(command: pb.CommandGetSqlInfo, version: str) -> pa.Table:
    """The requested info ids that this server knows (all of them when none are requested)."""
    values = sql_info_values(version)
    ids = [i for i in command.info if i in values] if command.info else sorted(values)
    # SERVER_TRANSACTION is an int32 enum in the protocol, sent as int32_bitmask (type code 3).
    codes = [3 if i == SERVER_TRANSACTION else _TYPE_CODES[type(values[i])] for i in ids]
    children: list[list[Any]] = [[] for _ in range(6)]
    offsets = []
    for i, code in zip(ids, codes):
        offsets.append(len(children[code]))
        children[code].append(values[i])
    union = pa.UnionArray.from_dense(
        pa.array(codes, pa.int8()), pa.array(offsets, pa.int32()),
        [pa.array(values_, type=field.type) for values_, field in zip(children, _SQL_INFO_VALUE)],
        [field.name for field in _SQL_INFO_VALUE], list(range(6)),
    )
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), union], schema=SQL_INFO_SCHEMA)


# GetXdbcTypeInfo: the SQL types gpu-exec's tables and results use, described for JDBC / ODBC
# tools (DBeaver, DataGrip and Tableau ask through DatabaseMetaData.getTypeInfo and the like).
XDBC_TYPE_INFO_SCHEMA = pa.schema([
    pa.field("type_name", pa.utf8(), nullable=False), pa.field("data_type", pa.int32(), nullable=False),
    pa.field("column_size", pa.int32()), pa.field("literal_prefix", pa.utf8()),
    pa.field("literal_suffix", pa.utf8()),
    pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
    pa.field("nullable", pa.int32(), nullable=False), pa.field("case_sensitive", pa.bool_(), nullable=False),
    pa.field("searchable", pa.int32(), nullable=False), pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), nullable=False), pa.field("auto_increment", pa.bool_()),
    pa.field("local_type_name", pa.utf8()), pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()), pa.field("sql_data_type", pa.int32(), nullable=False),
    pa.field("datetime_subcode", pa.int32()), pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32()),
])
_XDBC_DATETIME = 9  # sql_data_type of DATE / TIME / TIMESTAMP, told apart by datetime_subcode
_NULLABLE, _SEARCHABLE_FULL = 1, 3
# (type_name, data_type (XdbcDataType), column_size, literal quote, create_params, datetime_subcode,
#  num_prec_radix, maximum_scale)
_XDBC_TYPES: list[tuple[str, int, int | None, str | None, list[str] | None, int | None, int | None, int | None]] = [
    ("BOOLEAN", 16, 1, None, None, None, None, None),
    ("TINYINT", -6, 3, None, None, None, 10, None),
    ("SMALLINT", 5, 5, None, None, None, 10, None),
    ("INTEGER", 4, 10, None, None, None, 10, None),
    ("BIGINT", -5, 19, None, None, None, 10, None),
    ("REAL", 7, 24, None, None, None, 2, None),
    ("DOUBLE", 8, 53, None, None, None, 2, None),
    ("DECIMAL", 3, 38, None, ["precision", "scale"], None, 10, 38),
    ("VARCHAR", 12, None, "'", None, None, None, None),
    ("VARBINARY", -3, None, "X'", None, None, None, None),
    ("DATE", 91, 10, "DATE '", None, 1, None, None),
    ("TIMESTAMP", 93, 29, "TIMESTAMP '", None, 3, None, None),
]


def xdbc_type_info(command: pb.CommandGetXdbcTypeInfo) -> pa.Table:
    """The types, or only those of ``command.data_type``, ordered by data_type then type_name."""
    wanted = command.data_type if command.HasField("data_type") else None
    rows = sorted((t for t in _XDBC_TYPES if wanted is None or t[1] == wanted), key=lambda t: (t[1], t[0]))
    columns: dict[str, list[Any]] = {f.name: [] for f in XDBC_TYPE_INFO_SCHEMA}
    for name, code, size, prefix, params, subcode, radix, max_scale in rows:
        values = {
            "type_name": name, "data_type": code, "column_size": size, "literal_prefix": prefix,
            "literal_suffix": "'" if prefix else None, "create_params": params, "nullable": _NULLABLE,
            "case_sensitive": name == "VARCHAR", "searchable": _SEARCHABLE_FULL,
            "unsigned_attribute": False if radix else None, "fixed_prec_scale": False,
            "auto_increment": False if radix else None, "local_type_name": name,
            "minimum_scale": 0 if max_scale is not None else None, "maximum_scale": max_scale,
            "sql_data_type": _XDBC_DATETIME if subcode else code, "datetime_subcode": subcode,
            "num_prec_radix": radix, "interval_precision": None,
        }
        for key, value in values.items():
            columns[key].append(value)
    return pa.table(columns, schema=XDBC_TYPE_INFO_SCHEMA)
