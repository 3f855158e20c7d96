"""The query endpoint (``scheduler.service.flight_sql``) driven by real clients: the ADBC Flight SQL
driver, unmodified, and pyarrow.flight for what ADBC does not expose (endpoints, streams).

The server runs in this process over an in-process session (fast); tests/service/test_service_cluster.py
runs the same client against ``gpu-exec scheduler`` with executors.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import adbc_driver_flightsql.dbapi as adbc
import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from adbc_driver_flightsql import DatabaseOptions
from google.protobuf import any_pb2

from gpu_exec.testing.compare import compare_tables, query_is_ordered
from gpu_exec.api.sql_scripts import datafusion_context, last_query, run_on_datafusion, run_on_gpu_exec
from gpu_exec.testing.tpch import QUERY_NUMBERS, query_sql
from scheduler.protocol.flight_sql_messages import pack
from scheduler.service.flight_sql import FlightSqlServer, ServiceLimits
from scheduler.protocol.proto import flight_sql_pb2 as pb
from scheduler.service.registry import QueryState

# A query that does not end by itself (lineitem × orders: 9·10^10 pairs at SF 0.1, streamed a
# slice of the product at a time, in bounded memory): whenever a test cancels it or a timeout
# fires, it is still running — no test depends on how fast this machine is.
SLOW_QUERY = "select sum(l_quantity + o_totalprice) as n from lineitem cross join orders where l_quantity > 0"


class AdbcSession:
    """The ``session.sql(statement).to_arrow()`` shape over one ADBC connection, so that the SQL
    scripts helpers (and thus the DataFusion oracle) drive the ADBC driver."""

    def __init__(self, uri: str, **db_kwargs: str) -> None:
        self.connection = adbc.connect(uri, db_kwargs=db_kwargs or None, autocommit=True)

    def sql(self, statement: str) -> AdbcSession._Result:
        return AdbcSession._Result(self.connection, statement)

    class _Result:
        def __init__(self, connection: Any, statement: str) -> None:
            self.connection, self.statement = connection, statement

        def to_arrow(self) -> pa.Table:
            with self.connection.cursor() as cursor:
                cursor.execute(self.statement)
                return cursor.fetch_arrow_table()

    def close(self) -> None:
        self.connection.close()


def _start(session: object, **limits: Any) -> FlightSqlServer:
    return FlightSqlServer(session, "grpc://127.0.0.1:0", limits=ServiceLimits(**limits))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tpch_service(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> Iterator[FlightSqlServer]:
    session = connect_for_tests(tables=tpch_data)
    server = _start(session)
    yield server
    server.shutdown()
    session.close()


@pytest.fixture(scope="module")
def uri(tpch_service: FlightSqlServer) -> str:
    return f"grpc://127.0.0.1:{tpch_service.port}"


@pytest.fixture(scope="module")
def adbc_session(uri: str) -> Iterator[AdbcSession]:
    session = AdbcSession(uri)
    yield session
    session.close()


def _assert_same(actual: pa.Table, expected: pa.Table, sql: str) -> None:
    differences = compare_tables(actual, expected, query_is_ordered(last_query(sql)))
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize("number", QUERY_NUMBERS, ids=lambda n: f"q{n:02d}")
def test_adbc_runs_tpch(number: int, adbc_session: AdbcSession, tpch_data: dict[str, str],
                        assert_matches_datafusion: Callable[..., pa.Table]) -> None:
    assert_matches_datafusion(query_sql(number), tpch_data, session=adbc_session)


def test_adbc_lists_catalog_tables_and_schemas(adbc_session: AdbcSession, tpch_data: dict[str, str]) -> None:
    connection = adbc_session.connection
    objects = connection.adbc_get_objects(depth="all").read_all().to_pylist()
    assert [c["catalog_name"] for c in objects] == ["datafusion"]
    schemas = objects[0]["catalog_db_schemas"]
    assert [s["db_schema_name"] for s in schemas] == ["public"]
    tables = {t["table_name"]: t for t in schemas[0]["db_schema_tables"]}
    assert set(tpch_data) <= set(tables)
    assert [c["column_name"] for c in tables["nation"]["table_columns"]] == \
        ["n_nationkey", "n_name", "n_regionkey", "n_comment"]
    schema = connection.adbc_get_table_schema("orders")
    assert schema.names == pq.read_schema(tpch_data["orders"]).names
    assert connection.adbc_get_table_types() == ["TABLE", "VIEW"]
    filtered = connection.adbc_get_objects(depth="tables", table_name_filter="n%").read_all().to_pylist()
    names = [t["table_name"] for t in filtered[0]["catalog_db_schemas"][0]["db_schema_tables"]]
    assert names == ["nation"]
    info = connection.adbc_get_info()
    assert info["vendor_name"] == "gpu-exec"
    assert info["vendor_arrow_version"] == pa.__version__


def test_adbc_prepared_statement_with_parameters(adbc_session: AdbcSession) -> None:
    with adbc_session.connection.cursor() as cursor:
        cursor.execute("select n_name from nation where n_regionkey = $1 and n_nationkey > $2 order by n_name", (1, 2))
        assert [r[0] for r in cursor.fetchall()] == ["CANADA", "PERU", "UNITED STATES"]
        cursor.execute("select n_name from nation where n_regionkey = $1 and n_nationkey > $2 order by n_name", (3, 20))
        assert [r[0] for r in cursor.fetchall()] == ["RUSSIA", "UNITED KINGDOM"]


def test_adbc_errors_name_their_cause_and_the_service_keeps_serving(adbc_session: AdbcSession) -> None:
    with adbc_session.connection.cursor() as cursor:
        with pytest.raises(adbc.Error, match="SQLError: .*No field named nope"):
            cursor.execute("select nope from nation")
        with pytest.raises(adbc.Error, match="CatalogError: unknown table 'missing'"):
            cursor.execute("select * from missing")
        with pytest.raises(adbc.Error, match="SQLError"):
            cursor.execute("selec 1")
        cursor.execute("select count(*) from region")
        assert cursor.fetchone() == (5,)


def test_adbc_ddl_and_copy(adbc_session: AdbcSession, tpch_data: dict[str, str], tmp_path: Any) -> None:
    out = tmp_path / "nations"
    with adbc_session.connection.cursor() as cursor:
        cursor.execute(f"create external table nation_copy stored as parquet location '{tpch_data['nation']}'")
        cursor.execute("show tables")
        assert "nation_copy" in [row[2] for row in cursor.fetchall()]
        cursor.execute(f"copy (select n_nationkey, n_name from nation_copy where n_regionkey = 2) to '{out}' (format parquet)")
        assert cursor.fetchall() == [(5,)]
        cursor.execute("drop table nation_copy")
        with pytest.raises(adbc.Error, match="nation_copy"):
            cursor.execute("select * from nation_copy")
    written = pq.read_table(out).sort_by("n_nationkey")
    assert written.column("n_nationkey").to_pylist() == [8, 9, 12, 18, 21]


def test_many_concurrent_adbc_clients_all_get_right_answers(uri: str, tpch_data: dict[str, str]) -> None:
    numbers = [1, 3, 5, 6, 10, 12, 14, 19, 4, 13]  # ten clients at once, each its own connection
    oracle = datafusion_context(tpch_data)
    expected = {n: run_on_datafusion(oracle, query_sql(n)).table for n in numbers}

    def client(number: int) -> pa.Table:
        session = AdbcSession(uri)
        try:
            return run_on_gpu_exec(session, query_sql(number)).table
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=len(numbers)) as pool:
        results = dict(zip(numbers, pool.map(client, numbers)))
    for number in numbers:
        _assert_same(results[number], expected[number], query_sql(number))


def test_adbc_cancel_stops_a_running_query(tpch_service: FlightSqlServer, adbc_session: AdbcSession,
                                           in_background: Callable[..., Any]) -> None:
    cursor = adbc_session.connection.cursor()

    def run() -> None:
        cursor.execute(SLOW_QUERY)
        cursor.fetchall()

    query = in_background(run)
    record = _wait_for_running(tpch_service, SLOW_QUERY)
    cursor.adbc_cancel()
    error = query.error()
    cursor.close()
    assert error is not None, "the query finished although it was cancelled"
    assert "cancel" in str(error).lower()
    _wait_until(lambda: record.state is QueryState.CANCELLED)
    assert record.stopped.wait(60), "the cancelled query's work went on"


def _wait_for_running(server: FlightSqlServer, sql: str) -> Any:
    found: list[Any] = []

    def running() -> bool:
        found[:] = [r for r in server.registry.list(running_only=True) if r.sql == sql]
        return bool(found)

    _wait_until(running)
    time.sleep(0.3)  # into execution, past planning
    return found[0]


def _wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_query_timeout_cancels_the_query(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    import dataclasses

    session = connect_for_tests(tables=tpch_data)
    server = _start(session, query_timeout=0.3)
    try:
        with AdbcSession(f"grpc://127.0.0.1:{server.port}").connection as connection, connection.cursor() as cursor:
            with pytest.raises(adbc.Error, match="query timeout of 0.3 s"):
                cursor.execute(SLOW_QUERY)  # never ends by itself: the timeout always fires
            (record,) = [r for r in server.registry.list() if r.sql == SLOW_QUERY]
            assert record.state is QueryState.CANCELLED
            # Not only the answer: the work stops (at its next batch), freeing the machine.
            assert record.stopped.wait(60), "the timed-out query's work went on"
            # The server still serves. (Without a timeout now: how long a short query takes on a
            # busy machine is not what this test is about.)
            server.limits = dataclasses.replace(server.limits, query_timeout=0)
            cursor.execute("select count(*) from region")
            assert cursor.fetchone() == (5,)
    finally:
        server.shutdown()
        session.close()


def test_result_size_limit_names_copy_as_the_way_out(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(tables=tpch_data)
    server = _start(session, max_result_bytes=10_000)
    try:
        with AdbcSession(f"grpc://127.0.0.1:{server.port}").connection as connection, connection.cursor() as cursor:
            with pytest.raises(adbc.Error, match=r"over the server's limit of 10,000 bytes.*COPY"):
                cursor.execute("select * from orders")
            cursor.execute("select count(*) from orders")
            assert cursor.fetchone() == (150000,)
    finally:
        server.shutdown()
        session.close()


def _flight_info(client: fl.FlightClient, sql: str) -> fl.FlightInfo:
    return client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))))


def test_big_results_come_as_several_endpoints_of_bounded_batches(tpch_data: dict[str, str],
                                                                   connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(tables=tpch_data)
    server = _start(session, endpoint_bytes=2 * 1024**2, batch_rows=10_000)
    try:
        client = fl.FlightClient(f"grpc://127.0.0.1:{server.port}")
        info = _flight_info(client, "select * from orders")
        assert info.total_records == 150_000
        assert len(info.endpoints) >= 4
        tables, batch_sizes = [], []
        for endpoint in info.endpoints:
            table = client.do_get(endpoint.ticket).read_all()
            batch_sizes += [b.num_rows for b in table.to_batches()]
            tables.append(table)
        assert sum(t.num_rows for t in tables) == 150_000
        assert max(batch_sizes) <= 10_000
        assert pa.concat_tables(tables).column("o_orderkey").to_pylist() == \
            pq.read_table(tpch_data["orders"], columns=["o_orderkey"]).column(0).to_pylist()
        assert len(server.results) == 0  # every endpoint streamed: nothing kept
        with pytest.raises(fl.FlightError, match="result is gone"):
            client.do_get(info.endpoints[0].ticket).read_all()
    finally:
        server.shutdown()
        session.close()


def test_a_client_that_disconnects_mid_stream_frees_its_result(tpch_data: dict[str, str],
                                                               connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(tables=tpch_data)
    server = _start(session, batch_rows=1_000)
    try:
        client = fl.FlightClient(f"grpc://127.0.0.1:{server.port}")
        info = _flight_info(client, "select * from lineitem")
        assert len(server.results) == 1
        reader = client.do_get(info.endpoints[0].ticket)
        reader.read_chunk()
        reader.cancel()
        client.close()
        _wait_until(lambda: len(server.results) == 0, timeout=30)
    finally:
        server.shutdown()
        session.close()


def test_cancel_flight_info_drops_the_result(tpch_service: FlightSqlServer, uri: str) -> None:
    client = fl.FlightClient(uri)
    info = _flight_info(client, "select * from region")
    action = fl.Action("CancelQuery", pack(pb.ActionCancelQueryRequest(info=info.serialize())))
    (result,) = list(client.do_action(action))
    answer = pb.ActionCancelQueryResult()
    wrapper = any_pb2.Any.FromString(result.body.to_pybytes())
    wrapper.Unpack(answer)
    assert answer.result == pb.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED
    with pytest.raises(fl.FlightError, match="result is gone"):
        client.do_get(info.endpoints[0].ticket).read_all()


def _metadata(client: fl.FlightClient, command: Any) -> pa.Table:
    info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(command)))
    table = pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints])
    assert table.schema == info.schema
    return table


def test_type_info_and_key_commands(uri: str) -> None:
    from scheduler.service.flight_sql_catalog import KEYS_SCHEMA, PRIMARY_KEYS_SCHEMA, XDBC_TYPE_INFO_SCHEMA

    client = fl.FlightClient(uri)
    types = _metadata(client, pb.CommandGetXdbcTypeInfo())
    assert types.schema == XDBC_TYPE_INFO_SCHEMA
    assert {"BIGINT", "DOUBLE", "DECIMAL", "VARCHAR", "DATE", "TIMESTAMP"} <= set(types.column("type_name").to_pylist())
    codes = types.column("data_type").to_pylist()
    assert codes == sorted(codes)
    varchar = _metadata(client, pb.CommandGetXdbcTypeInfo(data_type=12)).to_pylist()
    assert [(t["type_name"], t["literal_prefix"], t["case_sensitive"]) for t in varchar] == [("VARCHAR", "'", True)]
    (date,) = _metadata(client, pb.CommandGetXdbcTypeInfo(data_type=91)).to_pylist()
    assert (date["sql_data_type"], date["datetime_subcode"]) == (9, 1)  # XDBC_DATETIME, DATE
    assert _metadata(client, pb.CommandGetPrimaryKeys(table="nation")).schema == PRIMARY_KEYS_SCHEMA
    assert _metadata(client, pb.CommandGetImportedKeys(table="nation")).schema == KEYS_SCHEMA


def test_unsupported_commands_are_named(uri: str) -> None:
    client = fl.FlightClient(uri)
    ingest = any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandStatementIngest")
    with pytest.raises(fl.FlightError, match="does not support the Flight SQL command .*CommandStatementIngest"):
        client.get_flight_info(fl.FlightDescriptor.for_command(ingest.SerializeToString()))
    with pytest.raises(fl.FlightError, match="Flight SQL commands, not path"):
        client.get_flight_info(fl.FlightDescriptor.for_path("nation"))


def test_adbc_with_credentials(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    from scheduler.service.auth import AuthConfig

    token = "token-for-the-flight-test-0123"
    session = connect_for_tests(tables={"region": tpch_data["region"]})
    server = FlightSqlServer(session, "grpc://127.0.0.1:0",
                             auth=AuthConfig.from_options(tokens={"ci": token}, users=["alice:s3cret"]))
    uri = f"grpc://127.0.0.1:{server.port}"
    try:
        for kwargs in ({DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"},
                       {"username": "alice", "password": "s3cret"}):
            adbc_client = AdbcSession(uri, **kwargs)
            assert adbc_client.sql("select count(*) as n from region").to_arrow().to_pylist() == [{"n": 5}]
            adbc_client.close()
        for kwargs, message in (({}, "missing credentials"),
                                ({DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer wrong-token-0123456789"}, "invalid token"),
                                ({"username": "alice", "password": "wrong"}, "wrong user or password")):
            with pytest.raises(adbc.Error, match=message):
                adbc_client = AdbcSession(uri, **kwargs)
                try:
                    adbc_client.sql("select 1").to_arrow()
                finally:
                    adbc_client.close()
        users = {r.user for r in server.registry.list()}
        assert users == {"ci", "alice"}
    finally:
        server.shutdown()
        session.close()


def test_adbc_over_tls(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    import trustme  # the dev extra's certificate authority for tests

    ca = trustme.CA()
    certificate = ca.issue_cert("localhost", "127.0.0.1")
    tls = (b"".join(blob.bytes() for blob in certificate.cert_chain_pems), certificate.private_key_pem.bytes())
    session = connect_for_tests(tables={"region": tpch_data["region"]})
    server = FlightSqlServer(session, "grpc+tls://127.0.0.1:0", tls=tls)
    try:
        uri = f"grpc+tls://localhost:{server.port}"
        adbc_client = AdbcSession(uri, **{DatabaseOptions.TLS_ROOT_CERTS.value: ca.cert_pem.bytes().decode()})
        assert adbc_client.sql("select count(*) as n from region").to_arrow().to_pylist() == [{"n": 5}]
        adbc_client.close()
        plaintext = AdbcSession(f"grpc://127.0.0.1:{server.port}")
        with pytest.raises(adbc.Error):
            plaintext.sql("select 1").to_arrow()
        plaintext.close()
    finally:
        server.shutdown()
        session.close()


def test_unfetched_results_are_bounded_in_all(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(tables=tpch_data)
    server = _start(session, max_result_bytes=3_000_000)  # results kept: 6 MB in all
    try:
        client = fl.FlightClient(f"grpc://127.0.0.1:{server.port}")
        sql = "select o_orderkey, o_custkey from orders"  # 2.4 MB
        first, second = _flight_info(client, sql), _flight_info(client, sql)
        with pytest.raises(fl.FlightError, match="not fetched yet.*COPY"):
            _flight_info(client, sql)
        for info in (first, second):
            for endpoint in info.endpoints:
                client.do_get(endpoint.ticket).read_all()
        assert _flight_info(client, sql).total_records == 150_000  # fetched ones no longer count
    finally:
        server.shutdown()
        session.close()


def test_remote_session_api(uri: str, tpch_data: dict[str, str], tmp_path: Any) -> None:
    import pyarrow.csv as pacsv

    import gpu_exec
    from gpu_exec.api.remote import RemoteSession

    with gpu_exec.connect(uri) as remote:
        assert isinstance(remote, RemoteSession)
        df = remote.sql("select n_name from nation where n_regionkey = $1 and n_nationkey > $2 order by n_name",
                        [1, 2])
        assert df.schema.names == ["n_name"]
        assert df.to_pydict() == {"n_name": ["CANADA", "PERU", "UNITED STATES"]}
        assert [b.num_rows for b in remote.sql("select * from region").execute_stream()] == [5]
        assert remote.sql("select r_name from region order by r_name").to_polars()["r_name"].to_list()[0] == "AFRICA"
        assert pa.table(remote.sql("select * from region")).num_rows == 5
        tables = remote.sql("select table_name from information_schema.tables where table_schema = 'public'")
        assert "nation" in tables.to_pydict()["table_name"]
        with pytest.raises(gpu_exec.SQLError, match=r"1 parameter\(s\).*0 were given"):
            remote.sql("select * from region where r_regionkey = $1")
        with pytest.raises(gpu_exec.CatalogError, match="unknown table 'nowhere'"):
            remote.sql("select * from nowhere")
        csv = tmp_path / "rates.csv"
        pacsv.write_csv(pa.table({"code": ["a", "b"], "rate": [1.5, 2.5]}), csv)
        remote.register_csv("rates", csv)
        remote.register_csv("rates", csv)  # registering again replaces
        assert remote.table("rates").to_pandas()["rate"].sum() == 4.0
        assert "Aggregate" in remote.sql("select count(*) from rates").explain()
        assert "rates" in remote.tables()
        remote.sql("drop table rates")
        assert "rates" not in remote.tables()
    with pytest.raises(gpu_exec.GpuExecError, match="cannot reach the gpu-exec query endpoint"):
        gpu_exec.connect("grpc://127.0.0.1:1")


def test_a_client_killed_mid_query_frees_its_query(tpch_service: FlightSqlServer, uri: str) -> None:
    import subprocess
    import sys

    sql = SLOW_QUERY.replace("> 0", "> 2")  # its own text, to find its record
    client = subprocess.Popen([sys.executable, "-c", (
        "import adbc_driver_flightsql.dbapi as a\n"
        f"c = a.connect({uri!r}, autocommit=True).cursor()\n"
        f"c.execute({sql!r})\n")])
    try:
        record = _wait_for_running(tpch_service, sql)
    finally:
        client.kill()  # the client's process dies: its connection drops mid-call
        client.wait()
    _wait_until(lambda: record.state is QueryState.CANCELLED)
    assert "went away" in record.error


def test_remote_cancel_on_an_open_server(tpch_service: FlightSqlServer, uri: str,
                                         in_background: Callable[..., Any]) -> None:
    import gpu_exec

    with gpu_exec.connect(uri) as remote:
        df = remote.sql(SLOW_QUERY.replace("> 0", "> 3"))
        query = in_background(df.to_arrow)
        record = _wait_for_running(tpch_service, df.query)
        df.cancel()
        error = query.error()
        assert isinstance(error, gpu_exec.QueryCancelled), error
        assert record.state is QueryState.CANCELLED


def test_explain_and_explain_analyze_over_flight_sql(adbc_session: AdbcSession) -> None:
    # A BI or JDBC client sees plans as result rows, as DataFusion answers EXPLAIN.
    sql = "select n_name from nation join region on n_regionkey = r_regionkey where r_name = 'ASIA'"
    with adbc_session.connection.cursor() as cursor:
        cursor.execute(f"explain {sql}")
        plans = dict(cursor.fetchall())
        assert set(plans) == {"logical_plan", "physical_plan"}
        assert "Join(inner)" in plans["physical_plan"] and "TableScan: region" in plans["physical_plan"]
        cursor.execute(f"explain analyze {sql}")
        ((kind, text),) = cursor.fetchall()
        assert kind == "Plan with Metrics"
        assert "TableScan: nation" in text and "TableScan: region" in text and "-- rows=" in text
        assert "query: " in text and ", 5 rows," in text


def test_the_service_logs_a_line_per_query(adbc_session: AdbcSession, caplog: Any) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="scheduler.service.registry"):
        with adbc_session.connection.cursor() as cursor:
            cursor.execute("select count(*) from region")
            cursor.fetchall()
            with pytest.raises(adbc.Error):  # planned, then fails while it runs
                cursor.execute("select cast(r_name as int) from region")
    lines = [r.getMessage() for r in caplog.records if r.name == "scheduler.service.registry"]
    assert any(" succeeded " in line and "rows=1" in line and "from region" in line for line in lines), lines
    assert any(" failed " in line and "error=" in line and "cast(r_name" in line for line in lines), lines
    assert all(line.startswith("query q-") for line in lines)


# ---- Substrait ----------------------------------------------------------------------------------
def _substrait_plan(tpch_data: dict[str, str], number: int) -> bytes:
    """DataFusion's Substrait plan of TPC-H query ``number``'s main query, produced over a context of
    the same tables (not the server's): q15's view is created there, and inlined into the plan."""
    from datafusion.substrait import Serde

    from gpu_exec.api.sql_scripts import is_query, split_statements

    ctx = datafusion_context(tpch_data)
    statements = split_statements(query_sql(number))
    for statement in statements:
        if is_query(statement):
            return bytes(Serde.serialize_bytes(statement, ctx))
        ctx.sql(statement)
    raise AssertionError(f"q{number} has no query")


def _adbc_substrait(connection: Any, plan: bytes) -> pa.Table:
    """The plan run through the ADBC driver's statement without preparing it: the driver sends
    GetFlightInfo(CommandStatementSubstraitPlan)."""
    with connection.cursor() as cursor:
        statement = cursor.adbc_statement
        statement.set_substrait_plan(plan)
        handle, _ = statement.execute_query()
        return pa.RecordBatchReader._import_from_c(handle.address).read_all()


@pytest.mark.parametrize("number", QUERY_NUMBERS, ids=lambda n: f"q{n:02d}")
def test_adbc_runs_tpch_substrait_plans(number: int, adbc_session: AdbcSession, tpch_data: dict[str, str]) -> None:
    expected = run_on_datafusion(datafusion_context(tpch_data), query_sql(number)).table
    actual = _adbc_substrait(adbc_session.connection, _substrait_plan(tpch_data, number))
    _assert_same(actual, expected, query_sql(number))


def test_adbc_prepares_a_substrait_plan(adbc_session: AdbcSession, tpch_data: dict[str, str]) -> None:
    # The DB-API cursor prepares bytes (CreatePreparedSubstraitPlan), then runs the prepared statement.
    with adbc_session.connection.cursor() as cursor:
        cursor.execute(_substrait_plan(tpch_data, 6))
        (revenue,) = cursor.fetchone()
    expected = run_on_datafusion(datafusion_context(tpch_data), query_sql(6)).table
    assert float(revenue) == pytest.approx(float(expected.column(0)[0].as_py()))


def test_remote_session_sql_substrait(uri: str, tpch_data: dict[str, str]) -> None:
    import gpu_exec

    with gpu_exec.connect(uri) as remote:
        frame = remote.sql_substrait(_substrait_plan(tpch_data, 1))
        assert frame.schema.names[:2] == ["l_returnflag", "l_linestatus"]
        expected = run_on_datafusion(datafusion_context(tpch_data), query_sql(1)).table
        _assert_same(frame.to_arrow(), expected, query_sql(1))
        with pytest.raises(gpu_exec.SQLError, match="not a Substrait plan"):
            remote.sql_substrait(b"\xff\xffgarbage")


def test_get_sql_info_advertises_substrait(uri: str) -> None:
    from gpu_exec.api.substrait import SUBSTRAIT_MAX_VERSION, SUBSTRAIT_MIN_VERSION

    rows = _metadata(fl.FlightClient(uri), pb.CommandGetSqlInfo(info=[5, 6, 7])).to_pylist()
    assert {r["info_name"]: r["value"] for r in rows} == {5: True, 6: SUBSTRAIT_MIN_VERSION, 7: SUBSTRAIT_MAX_VERSION}


def test_substrait_errors_name_their_cause_and_the_service_keeps_serving(uri: str, tpch_data: dict[str, str],
                                                                         adbc_session: AdbcSession) -> None:
    import datafusion
    from datafusion.substrait import Serde

    other = datafusion.SessionContext()
    other.register_parquet("planets", tpch_data["nation"])
    other.register_parquet("nation", tpch_data["nation"])
    unknown_table = bytes(Serde.serialize_bytes("select n_name from planets", other))
    other.register_udf(datafusion.udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="twin"))
    unknown_function = bytes(Serde.serialize_bytes("select twin(n_nationkey) from nation", other))
    connection = adbc_session.connection
    with pytest.raises(adbc.Error, match="SQLError: not a Substrait plan"):
        _adbc_substrait(connection, b"\xff\xffgarbage")
    with pytest.raises(adbc.Error, match="CatalogError: unknown table 'planets'"):
        _adbc_substrait(connection, unknown_table)
    with pytest.raises(adbc.Error, match='UnsupportedSQLError: .*Unsupported function name: "twin"'):
        _adbc_substrait(connection, unknown_function)
    client = fl.FlightClient(uri)
    newer = pb.CommandStatementSubstraitPlan(plan=pb.SubstraitPlan(plan=_substrait_plan(tpch_data, 6), version="9.0.0"))
    with pytest.raises(fl.FlightError, match="UnsupportedSQLError: a Substrait 9.0.0 plan"):
        client.get_flight_info(fl.FlightDescriptor.for_command(pack(newer)))
    assert _adbc_substrait(connection, _substrait_plan(tpch_data, 6)).num_rows == 1
