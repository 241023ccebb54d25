"""Many rows at once: inserting them, and asking which of many values a table holds.

Inserting (``insert_rows``). SQLAlchemy's executemany costs more per row in Python than the
database costs to store it: a parameter dict a row, each value converted through its column's
type. For a 100 000-row roster that was most of the import's time
(tests/bench/bench_roster_import.py). So each value is converted here by the same bind
processor SQLAlchemy would use (a JSON column's ``None`` is JSON ``null`` either way, a SQLite
date its ISO text), straight into a tuple, and the tuples go to the driver:

- PostgreSQL (psycopg): ``COPY … FROM STDIN`` through psycopg's ``Cursor.copy``, several times
  faster than INSERTs; SQLAlchemy has no construct for it;
- SQLite: the driver's ``executemany`` with SQLAlchemy's own compiled INSERT.

Anything else (a named paramstyle, a column whose default SQLAlchemy would have to compute)
goes through SQLAlchemy Core's executemany. A duplicate key is a
``sqlalchemy.exc.IntegrityError`` on every path. A processor is a pure function, so what it
makes of ``None`` is asked once a column, not once a row (for JSON that is a json.dumps).

Looking up (``any_of``). ``IN (…)`` binds one parameter a value, and with 100 000 of them
psycopg spends longer parsing the statement than PostgreSQL spends answering it; there one
array parameter (``= ANY(…)``) does. SQLite has no arrays, so there it is ``IN``. Both go in
chunks: SQLite limits bound parameters, and a chunk bounds the memory a look-up takes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

# Values a look-up sends at a time: SQLite binds one parameter each (32766 at most); on
# PostgreSQL it bounds the array parameter's size (100 000 IDs as one array are ~25 MB in Python).
IN_CHUNK = 5000


def any_of(
    session: Session | Connection, column: ColumnElement, values: Sequence[Any]
) -> Iterator[ColumnElement[bool]]:
    """Conditions "``column`` is one of ``values``", one a query, together covering every value."""
    bind = session.get_bind() if isinstance(session, Session) else session
    array = bind.dialect.name == "postgresql"
    for start in range(0, len(values), IN_CHUNK):
        chunk = list(values[start : start + IN_CHUNK])
        yield (
            column == any_(bindparam(None, chunk, type_=ARRAY(column.type)))
            if array
            else column.in_(chunk)
        )


def insert_rows(
    session: Session | Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Insert ``rows`` (each keyed by column name, all with the first row's keys) into ``table``.

    A session's pending changes are flushed first, as ``session.execute`` would: the rows may
    refer to them.
    """
    if not rows:
        return 0
    if isinstance(session, Session):
        session.flush()
    connection = _connection(session)
    dialect = connection.dialect
    keys = list(rows[0])
    # a column left out whose default SQLAlchemy computes in Python: only its INSERT knows how
    python_default = any(c.default is not None for c in table.c if c.key not in keys)
    if not python_default and dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(connection, table, keys, rows)
        return len(rows)
    compiled = table.insert().compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or ())  # the order of the INSERT's ? marks
    if python_default or sorted(names) != sorted(keys):  # or named parameters
        connection.execute(table.insert(), list(rows))
    else:
        connection.exec_driver_sql(compiled.string, list(_values(table, dialect, names, rows)))
    return len(rows)


def _connection(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


def _values(table: Table, dialect, names: list[str], rows, none_as=None) -> Iterator[tuple]:
    """Each row's values in ``names`` order, converted as SQLAlchemy's INSERT would convert them."""
    convert = []  # (key, the type's bind processor or None, what it makes of None)
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        none = process(None) if process else None
        convert.append((name, process, none_as(none) if none_as and none is not None else none))
    for row in rows:
        yield tuple(
            [(none if (v := row[n]) is None else f(v)) if f else row[n] for n, f, none in convert]
        )


def _copy(connection: Connection, table: Table, names: list[str], rows) -> None:
    import psycopg  # only here: SQLite-only deployments need not have it
    from psycopg.adapt import PyFormat, Transformer

    preparer = connection.dialect.identifier_preparer
    statement = (
        f"COPY {preparer.format_table(table)} "
        f"({', '.join(preparer.format_column(table.c[n]) for n in names)}) FROM STDIN"
    )
    raw = connection.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            # what COPY would write for a converted None (JSON's Json(None): null), as text once
            dumps = Transformer.from_context(cursor)

            def as_text(value):
                return bytes(dumps.get_dumper(value, PyFormat.TEXT).dump(value)).decode()

            for values in _values(table, connection.dialect, names, rows, none_as=as_text):
                copy.write_row(values)
    except psycopg.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from None
