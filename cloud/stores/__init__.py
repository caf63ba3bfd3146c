"""Stores behind one contract (:mod:`cloud.stores.base`), chosen by URL.

- no URL (default): :class:`~cloud.stores.sqlite.SqliteStore`, ``cloud.sqlite`` in the
  data folder; ``sqlite:///path/to/folder`` names the folder explicitly.
- ``postgresql://user@host:port/dbname``: :class:`~cloud.stores.postgres.PostgresStore`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from cloud.errors import ConfigError
from cloud.stores.base import Client, Pending, Reservation, Store, StoredResult, TokenError, TokenInfo
from cloud.stores.sqlite import DB_NAME, SqliteStore, TokenStore, open_db

SCHEMES = ("sqlite", "postgresql", "postgres")


def check_store_url(url: str) -> str:
    """*url* if its scheme is known, else :class:`~cloud.errors.ConfigError`."""
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise ConfigError("store_url", f"scheme {scheme!r} not supported (use sqlite:///folder or postgresql://...)")
    return url


async def open_store(url: str | None, data_dir: Path) -> Store:
    """Connect to the store at *url* (``None``: SQLite in *data_dir*).

    Raises
    ------
    StoreUnavailable
        The server cannot be reached or the schema cannot be created.
    """
    if url is None or urlsplit(check_store_url(url)).scheme == "sqlite":
        folder = data_dir if url is None else Path(unquote(urlsplit(url).path))
        store: SqliteStore | PostgresStore = SqliteStore(folder)
    else:
        from cloud.stores.postgres import PostgresStore

        store = PostgresStore(url)
    try:
        await store.connect()
    except BaseException:
        await store.close()
        raise
    return store


__all__ = [
    "Client", "DB_NAME", "Pending", "Reservation", "SqliteStore", "Store", "StoredResult", "TokenError", "TokenInfo",
    "TokenStore", "open_db", "open_store", "check_store_url",
]
