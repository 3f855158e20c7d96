"""The 22 TPC-H queries written with the DataFrame API: each must equal the SQL query's result.

Subqueries are written the way a DataFrame user would: correlated ones as an aggregate joined back
(q2, q17, q20), EXISTS / IN as semi joins, NOT EXISTS / NOT IN as anti joins (the keys are never
NULL), q21's two EXISTS as per-order supplier counts, and scalar subqueries as a one-row aggregate
joined on a constant key.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from gpu_exec import col, lit
from gpu_exec import functions as f
from gpu_exec.testing.compare import compare_tables
from gpu_exec.api.sql_scripts import run_on_gpu_exec
from gpu_exec.testing.tpch import query_sql

if TYPE_CHECKING:
    from datafusion import Expr

    from gpu_exec.api.dataframe import DataFrame
    from gpu_exec.api.session import Session


def d(text: str) -> Expr:
    return lit(datetime.date.fromisoformat(text))


def revenue() -> Expr:
    return col("l_extendedprice") * (lit(1) - col("l_discount"))


def one_of(column: str, *values: Any) -> Expr:
    return f.in_list(col(column), [lit(v) for v in values])


def q01(s: Session) -> DataFrame:
    disc_price = revenue()
    return (
        s.table("lineitem")
        .filter(col("l_shipdate") <= d("1998-09-02"))
        .aggregate(
            [col("l_returnflag"), col("l_linestatus")],
            [
                f.sum(col("l_quantity")).alias("sum_qty"),
                f.sum(col("l_extendedprice")).alias("sum_base_price"),
                f.sum(disc_price).alias("sum_disc_price"),
                f.sum(disc_price * (lit(1) + col("l_tax"))).alias("sum_charge"),
                f.avg(col("l_quantity")).alias("avg_qty"),
                f.avg(col("l_extendedprice")).alias("avg_price"),
                f.avg(col("l_discount")).alias("avg_disc"),
                f.count_star().alias("count_order"),
            ],
        )
        .sort(col("l_returnflag"), col("l_linestatus"))
    )


def _europe_partsupp(s: Session) -> DataFrame:
    region = s.table("region").filter(col("r_name") == lit("EUROPE"))
    nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
    supplier = s.table("supplier").join(nation, left_on="s_nationkey", right_on="n_nationkey")
    return s.table("partsupp").join(supplier, left_on="ps_suppkey", right_on="s_suppkey")


def q02(s: Session) -> DataFrame:
    part = s.table("part").filter(col("p_size") == lit(15), f.like(col("p_type"), "%BRASS"))
    min_cost = (
        _europe_partsupp(s)
        .aggregate([col("ps_partkey")], [f.min(col("ps_supplycost")).alias("min_cost")])
        .with_column_renamed("ps_partkey", "min_partkey")
    )
    return (
        part.join(_europe_partsupp(s), left_on="p_partkey", right_on="ps_partkey")
        .join(min_cost, left_on=["p_partkey", "ps_supplycost"], right_on=["min_partkey", "min_cost"])
        .select("s_acctbal", "s_name", "n_name", "p_partkey", "p_mfgr", "s_address", "s_phone", "s_comment")
        .sort(col("s_acctbal").sort(ascending=False), col("n_name"), col("s_name"), col("p_partkey"))
        .limit(100)
    )


def q03(s: Session) -> DataFrame:
    customer = s.table("customer").filter(col("c_mktsegment") == lit("BUILDING"))
    orders = s.table("orders").filter(col("o_orderdate") < d("1995-03-15"))
    lineitem = s.table("lineitem").filter(col("l_shipdate") > d("1995-03-15"))
    return (
        customer.join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(lineitem, left_on="o_orderkey", right_on="l_orderkey")
        .aggregate([col("l_orderkey"), col("o_orderdate"), col("o_shippriority")],
                   [f.sum(revenue()).alias("revenue")])
        .select("l_orderkey", "revenue", "o_orderdate", "o_shippriority")
        .sort(col("revenue").sort(ascending=False), col("o_orderdate"))
        .limit(10)
    )


def q04(s: Session) -> DataFrame:
    late = s.table("lineitem").filter(col("l_commitdate") < col("l_receiptdate"))
    return (
        s.table("orders")
        .filter(col("o_orderdate") >= d("1993-07-01"), col("o_orderdate") < d("1993-10-01"))
        .join(late, left_on="o_orderkey", right_on="l_orderkey", how="semi")
        .aggregate([col("o_orderpriority")], [f.count_star().alias("order_count")])
        .sort(col("o_orderpriority"))
    )


def q05(s: Session) -> DataFrame:
    region = s.table("region").filter(col("r_name") == lit("ASIA"))
    nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
    supplier = s.table("supplier").join(nation, left_on="s_nationkey", right_on="n_nationkey")
    orders = s.table("orders").filter(col("o_orderdate") >= d("1994-01-01"), col("o_orderdate") < d("1995-01-01"))
    return (
        s.table("customer")
        .join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(s.table("lineitem"), left_on="o_orderkey", right_on="l_orderkey")
        .join(supplier, left_on=["l_suppkey", "c_nationkey"], right_on=["s_suppkey", "s_nationkey"])
        .aggregate([col("n_name")], [f.sum(revenue()).alias("revenue")])
        .sort(col("revenue").sort(ascending=False))
    )


def q06(s: Session) -> DataFrame:
    return (
        s.table("lineitem")
        .filter(
            col("l_shipdate") >= d("1994-01-01"),
            col("l_shipdate") < d("1995-01-01"),
            col("l_discount").between(lit(0.06) - lit(0.01), lit(0.06) + lit(0.01)),
            col("l_quantity") < lit(24),
        )
        .aggregate([], [f.sum(col("l_extendedprice") * col("l_discount")).alias("revenue")])
    )


def _nation_as(s: Session, prefix: str) -> DataFrame:
    return s.table("nation").select(
        col("n_nationkey").alias(f"{prefix}_nationkey"),
        col("n_name").alias(f"{prefix}_name"),
        col("n_regionkey").alias(f"{prefix}_regionkey"),
    )


def q07(s: Session) -> DataFrame:
    france, germany = lit("FRANCE"), lit("GERMANY")
    return (
        s.table("supplier")
        .join(s.table("lineitem").filter(col("l_shipdate").between(d("1995-01-01"), d("1996-12-31"))),
              left_on="s_suppkey", right_on="l_suppkey")
        .join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
        .join(s.table("customer"), left_on="o_custkey", right_on="c_custkey")
        .join(_nation_as(s, "n1"), left_on="s_nationkey", right_on="n1_nationkey")
        .join(_nation_as(s, "n2"), left_on="c_nationkey", right_on="n2_nationkey")
        .filter(((col("n1_name") == france) & (col("n2_name") == germany))
                | ((col("n1_name") == germany) & (col("n2_name") == france)))
        .select(
            col("n1_name").alias("supp_nation"),
            col("n2_name").alias("cust_nation"),
            f.date_part("year", col("l_shipdate")).alias("l_year"),
            revenue().alias("volume"),
        )
        .aggregate([col("supp_nation"), col("cust_nation"), col("l_year")], [f.sum(col("volume")).alias("revenue")])
        .sort(col("supp_nation"), col("cust_nation"), col("l_year"))
    )


def q08(s: Session) -> DataFrame:
    america = s.table("region").filter(col("r_name") == lit("AMERICA"))
    return (
        s.table("part").filter(col("p_type") == lit("ECONOMY ANODIZED STEEL"))
        .join(s.table("lineitem"), left_on="p_partkey", right_on="l_partkey")
        .join(s.table("supplier"), left_on="l_suppkey", right_on="s_suppkey")
        .join(s.table("orders").filter(col("o_orderdate").between(d("1995-01-01"), d("1996-12-31"))),
              left_on="l_orderkey", right_on="o_orderkey")
        .join(s.table("customer"), left_on="o_custkey", right_on="c_custkey")
        .join(_nation_as(s, "n1"), left_on="c_nationkey", right_on="n1_nationkey")
        .join(america, left_on="n1_regionkey", right_on="r_regionkey")
        .join(_nation_as(s, "n2"), left_on="s_nationkey", right_on="n2_nationkey")
        .select(
            f.date_part("year", col("o_orderdate")).alias("o_year"),
            revenue().alias("volume"),
            col("n2_name").alias("nation"),
        )
        .aggregate(
            [col("o_year")],
            [(f.sum(f.when(col("nation") == lit("BRAZIL"), col("volume")).otherwise(lit(0)))
              / f.sum(col("volume"))).alias("mkt_share")],
        )
        .sort(col("o_year"))
    )


def q09(s: Session) -> DataFrame:
    return (
        s.table("part").filter(f.like(col("p_name"), "%green%"))
        .join(s.table("lineitem"), left_on="p_partkey", right_on="l_partkey")
        .join(s.table("supplier"), left_on="l_suppkey", right_on="s_suppkey")
        .join(s.table("partsupp"), left_on=["l_suppkey", "l_partkey"], right_on=["ps_suppkey", "ps_partkey"])
        .join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
        .join(s.table("nation"), left_on="s_nationkey", right_on="n_nationkey")
        .select(
            col("n_name").alias("nation"),
            f.date_part("year", col("o_orderdate")).alias("o_year"),
            (revenue() - col("ps_supplycost") * col("l_quantity")).alias("amount"),
        )
        .aggregate([col("nation"), col("o_year")], [f.sum(col("amount")).alias("sum_profit")])
        .sort(col("nation"), col("o_year").sort(ascending=False))
    )


def q10(s: Session) -> DataFrame:
    orders = s.table("orders").filter(col("o_orderdate") >= d("1993-10-01"), col("o_orderdate") < d("1994-01-01"))
    return (
        s.table("customer")
        .join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(s.table("lineitem").filter(col("l_returnflag") == lit("R")), left_on="o_orderkey", right_on="l_orderkey")
        .join(s.table("nation"), left_on="c_nationkey", right_on="n_nationkey")
        .aggregate(
            [col(c) for c in ("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")],
            [f.sum(revenue()).alias("revenue")],
        )
        .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
        .sort(col("revenue").sort(ascending=False))
        .limit(20)
    )


def q11(s: Session) -> DataFrame:
    def german_stock() -> DataFrame:
        nation = s.table("nation").filter(col("n_name") == lit("GERMANY"))
        return (
            s.table("partsupp")
            .join(s.table("supplier"), left_on="ps_suppkey", right_on="s_suppkey")
            .join(nation, left_on="s_nationkey", right_on="n_nationkey")
        )

    value = col("ps_supplycost") * col("ps_availqty")
    threshold = (
        german_stock().aggregate([], [(f.sum(value) * lit(0.0001)).alias("threshold")]).with_column("key", lit(1))
    )
    return (
        german_stock()
        .aggregate([col("ps_partkey")], [f.sum(value).alias("value")])
        .with_column("one", lit(1))
        .join(threshold, left_on="one", right_on="key")
        .filter(col("value") > col("threshold"))
        .select("ps_partkey", "value")
        .sort(col("value").sort(ascending=False))
    )


def q12(s: Session) -> DataFrame:
    urgent = (col("o_orderpriority") == lit("1-URGENT")) | (col("o_orderpriority") == lit("2-HIGH"))
    not_urgent = (col("o_orderpriority") != lit("1-URGENT")) & (col("o_orderpriority") != lit("2-HIGH"))
    return (
        s.table("lineitem")
        .join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
        .filter(
            one_of("l_shipmode", "MAIL", "SHIP"),
            col("l_commitdate") < col("l_receiptdate"),
            col("l_shipdate") < col("l_commitdate"),
            col("l_receiptdate") >= d("1994-01-01"),
            col("l_receiptdate") < d("1995-01-01"),
        )
        .aggregate(
            [col("l_shipmode")],
            [
                f.sum(f.when(urgent, lit(1)).otherwise(lit(0))).alias("high_line_count"),
                f.sum(f.when(not_urgent, lit(1)).otherwise(lit(0))).alias("low_line_count"),
            ],
        )
        .sort(col("l_shipmode"))
    )


def q13(s: Session) -> DataFrame:
    orders = s.table("orders").filter(f.like(col("o_comment"), "%special%requests%", negated=True))
    return (
        s.table("customer")
        .join(orders, left_on="c_custkey", right_on="o_custkey", how="left")
        .aggregate([col("c_custkey")], [f.count(col("o_orderkey")).alias("c_count")])
        .aggregate([col("c_count")], [f.count_star().alias("custdist")])
        .sort(col("custdist").sort(ascending=False), col("c_count").sort(ascending=False))
    )


def q14(s: Session) -> DataFrame:
    promo = f.when(f.like(col("p_type"), "PROMO%"), revenue()).otherwise(lit(0))
    return (
        s.table("lineitem")
        .filter(col("l_shipdate") >= d("1995-09-01"), col("l_shipdate") < d("1995-10-01"))
        .join(s.table("part"), left_on="l_partkey", right_on="p_partkey")
        .aggregate([], [(lit(100.00) * f.sum(promo) / f.sum(revenue())).alias("promo_revenue")])
    )


def q15(s: Session) -> DataFrame:
    revenue0 = (
        s.table("lineitem")
        .filter(col("l_shipdate") >= d("1996-01-01"), col("l_shipdate") < d("1996-04-01"))
        .aggregate([col("l_suppkey")], [f.sum(revenue()).alias("total_revenue")])
        .with_column_renamed("l_suppkey", "supplier_no")
    )
    top = revenue0.aggregate([], [f.max(col("total_revenue")).alias("max_revenue")])
    return (
        s.table("supplier")
        .join(revenue0, left_on="s_suppkey", right_on="supplier_no")
        .join(top, left_on="total_revenue", right_on="max_revenue")
        .select("s_suppkey", "s_name", "s_address", "s_phone", "total_revenue")
        .sort(col("s_suppkey"))
    )


def q16(s: Session) -> DataFrame:
    complaints = s.table("supplier").filter(f.like(col("s_comment"), "%Customer%Complaints%"))
    part = s.table("part").filter(
        col("p_brand") != lit("Brand#45"),
        f.like(col("p_type"), "MEDIUM POLISHED%", negated=True),
        one_of("p_size", 49, 14, 23, 45, 19, 3, 36, 9),
    )
    return (
        s.table("partsupp")
        .join(part, left_on="ps_partkey", right_on="p_partkey")
        .join(complaints, left_on="ps_suppkey", right_on="s_suppkey", how="anti")
        .aggregate([col("p_brand"), col("p_type"), col("p_size")],
                   [f.count(col("ps_suppkey"), distinct=True).alias("supplier_cnt")])
        .sort(col("supplier_cnt").sort(ascending=False), col("p_brand"), col("p_type"), col("p_size"))
    )


def q17(s: Session) -> DataFrame:
    part = s.table("part").filter(col("p_brand") == lit("Brand#23"), col("p_container") == lit("MED BOX"))
    small = (
        s.table("lineitem")
        .aggregate([col("l_partkey")], [(lit(0.2) * f.avg(col("l_quantity"))).alias("small_qty")])
        .with_column_renamed("l_partkey", "small_partkey")
    )
    return (
        s.table("lineitem")
        .join(part, left_on="l_partkey", right_on="p_partkey")
        .join(small, left_on="p_partkey", right_on="small_partkey")
        .filter(col("l_quantity") < col("small_qty"))
        .aggregate([], [(f.sum(col("l_extendedprice")) / lit(7.0)).alias("avg_yearly")])
    )


def q18(s: Session) -> DataFrame:
    big = (
        s.table("lineitem")
        .aggregate([col("l_orderkey")], [f.sum(col("l_quantity")).alias("qty")])
        .filter(col("qty") > lit(300))
        .with_column_renamed("l_orderkey", "big_orderkey")
    )
    return (
        s.table("customer")
        .join(s.table("orders").join(big, left_on="o_orderkey", right_on="big_orderkey", how="semi"),
              left_on="c_custkey", right_on="o_custkey")
        .join(s.table("lineitem"), left_on="o_orderkey", right_on="l_orderkey")
        .aggregate([col(c) for c in ("c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice")],
                   [f.sum(col("l_quantity")).alias("sum(lineitem.l_quantity)")])
        .sort(col("o_totalprice").sort(ascending=False), col("o_orderdate"))
        .limit(100)
    )


def q19(s: Session) -> DataFrame:
    def branch(brand: str, containers: tuple[str, ...], low: int, size: int) -> Expr:
        return (
            (col("p_brand") == lit(brand))
            & one_of("p_container", *containers)
            & (col("l_quantity") >= lit(low)) & (col("l_quantity") <= lit(low) + lit(10))
            & col("p_size").between(lit(1), lit(size))
            & one_of("l_shipmode", "AIR", "AIR REG")
            & (col("l_shipinstruct") == lit("DELIVER IN PERSON"))
        )

    return (
        s.table("lineitem")
        .join(s.table("part"), left_on="l_partkey", right_on="p_partkey")
        .filter(
            branch("Brand#12", ("SM CASE", "SM BOX", "SM PACK", "SM PKG"), 1, 5)
            | branch("Brand#23", ("MED BAG", "MED BOX", "MED PKG", "MED PACK"), 10, 10)
            | branch("Brand#34", ("LG CASE", "LG BOX", "LG PACK", "LG PKG"), 20, 15)
        )
        .aggregate([], [f.sum(revenue()).alias("revenue")])
    )


def q20(s: Session) -> DataFrame:
    forest = s.table("part").filter(f.like(col("p_name"), "forest%"))
    shipped = (
        s.table("lineitem")
        .filter(col("l_shipdate") >= d("1994-01-01"), col("l_shipdate") < d("1995-01-01"))
        .aggregate([col("l_partkey"), col("l_suppkey")], [(lit(0.5) * f.sum(col("l_quantity"))).alias("half_qty")])
    )
    excess = (
        s.table("partsupp")
        .join(forest, left_on="ps_partkey", right_on="p_partkey", how="semi")
        .join(shipped, left_on=["ps_partkey", "ps_suppkey"], right_on=["l_partkey", "l_suppkey"])
        .filter(col("ps_availqty") > col("half_qty"))
    )
    canada = s.table("nation").filter(col("n_name") == lit("CANADA"))
    return (
        s.table("supplier")
        .join(excess, left_on="s_suppkey", right_on="ps_suppkey", how="semi")
        .join(canada, left_on="s_nationkey", right_on="n_nationkey")
        .select("s_name", "s_address")
        .sort(col("s_name"))
    )


def q21(s: Session) -> DataFrame:
    def late(df: DataFrame) -> DataFrame:
        return df.filter(col("l_receiptdate") > col("l_commitdate"))

    # EXISTS another supplier on the order ⇔ the order has ≥ 2 suppliers; NOT EXISTS another late
    # supplier ⇔ the order's late lines (l1's among them) have exactly one supplier.
    suppliers = (
        s.table("lineitem").aggregate([col("l_orderkey")], [f.count(col("l_suppkey"), distinct=True).alias("n_supp")])
        .filter(col("n_supp") > lit(1))
        .with_column_renamed("l_orderkey", "multi_orderkey")
    )
    late_suppliers = (
        late(s.table("lineitem"))
        .aggregate([col("l_orderkey")], [f.count(col("l_suppkey"), distinct=True).alias("n_late")])
        .filter(col("n_late") == lit(1))
        .with_column_renamed("l_orderkey", "late_orderkey")
    )
    saudi = s.table("nation").filter(col("n_name") == lit("SAUDI ARABIA"))
    return (
        s.table("supplier")
        .join(late(s.table("lineitem")), left_on="s_suppkey", right_on="l_suppkey")
        .join(s.table("orders").filter(col("o_orderstatus") == lit("F")), left_on="l_orderkey", right_on="o_orderkey")
        .join(saudi, left_on="s_nationkey", right_on="n_nationkey")
        .join(suppliers, left_on="l_orderkey", right_on="multi_orderkey", how="semi")
        .join(late_suppliers, left_on="l_orderkey", right_on="late_orderkey", how="semi")
        .aggregate([col("s_name")], [f.count_star().alias("numwait")])
        .sort(col("numwait").sort(ascending=False), col("s_name"))
        .limit(100)
    )


def q22(s: Session) -> DataFrame:
    codes = ("13", "31", "23", "29", "30", "18", "17")
    code = f.substring(col("c_phone"), lit(1), lit(2))
    customers = s.table("customer").filter(f.in_list(code, [lit(c) for c in codes]))
    average = (
        customers.filter(col("c_acctbal") > lit(0.00))
        .aggregate([], [f.avg(col("c_acctbal")).alias("avg_acctbal")])
        .with_column("key", lit(1))
    )
    return (
        customers.with_column("one", lit(1))
        .join(average, left_on="one", right_on="key")
        .filter(col("c_acctbal") > col("avg_acctbal"))
        .join(s.table("orders"), left_on="c_custkey", right_on="o_custkey", how="anti")
        .select(code.alias("cntrycode"), col("c_acctbal"))
        .aggregate([col("cntrycode")], [f.count_star().alias("numcust"), f.sum(col("c_acctbal")).alias("totacctbal")])
        .sort(col("cntrycode"))
    )


QUERIES: dict[int, Callable[[Session], DataFrame]] = {
    int(name[1:]): fn for name, fn in globals().items() if name[0] == "q" and name[1:].isdigit()
}


@pytest.fixture(scope="module")
def tpch_session(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> Iterator[Any]:
    session = connect_for_tests(tables=tpch_data)
    yield session
    session.close()


def test_all_22_queries_are_written() -> None:
    assert sorted(QUERIES) == list(range(1, 23))


@pytest.mark.parametrize("number", sorted(QUERIES), ids=lambda n: f"q{n:02d}")
def test_dataframe_query_matches_sql(number: int, tpch_session: Any) -> None:
    expected = run_on_gpu_exec(tpch_session, query_sql(number)).table
    actual = QUERIES[number](tpch_session).to_arrow()
    differences = compare_tables(actual, expected, ordered=True)
    assert not differences, "\n".join(differences)
