"""Where the service's durable state lives: see :mod:`cloud.stores` (SQLite by default,
PostgreSQL when scaled out). This module keeps the synchronous SQLite token helpers
under their old names for callers that run before an event loop exists."""

from __future__ import annotations

from cloud.stores.base import Client, StoredResult, TokenError, TokenInfo
from cloud.stores.sqlite import DB_NAME, TokenStore, open_db

__all__ = ["Client", "DB_NAME", "StoredResult", "TokenError", "TokenInfo", "TokenStore", "open_db"]
