"""Where the companion keeps its files, and its few settings.

Resolution order for the data folder (first wins): the ``--data-dir`` flag, the
``CARDIOLINK_HOME`` environment variable, ``$XDG_DATA_HOME/cardiolink``,
``~/.local/share/cardiolink``. The database defaults to ``<data dir>/history.sqlite3``
and can be pointed elsewhere with ``--db`` or ``CARDIOLINK_DB``. Recovery files (samples
that could not be stored) go to ``<data dir>/recovery/``.

Example
-------
>>> cfg = CompanionConfig.resolve(data_dir="/tmp/cl", env={})
>>> cfg.db_path.name
'history.sqlite3'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from companion.errors import ConfigError

#: environment variable naming the data folder
ENV_HOME = "CARDIOLINK_HOME"
#: environment variable naming the database file
ENV_DB = "CARDIOLINK_DB"
#: environment variable giving the cloud analysis service's base URL
ENV_CLOUD_URL = "CARDIOLINK_CLOUD_URL"
DB_FILENAME = "history.sqlite3"


@dataclasses.dataclass(frozen=True, slots=True)
class CompanionConfig:
    """Validated companion settings.

    Attributes
    ----------
    data_dir : Path
        Folder for the history database, recovery files and exports by default.
    db_path : Path
        SQLite history database file.
    busy_timeout_s : float
        How long a write waits for another process's lock before failing, seconds.
    cloud_url : str or None
        Base URL of the cloud analysis service; None means the in-process default.
    """

    data_dir: Path
    db_path: Path
    busy_timeout_s: float = 5.0
    cloud_url: str | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.busy_timeout_s <= 600.0):
            raise ConfigError("busy_timeout_s", self.busy_timeout_s, "must be within 0..600 s")
        if self.cloud_url is not None and not self.cloud_url.startswith(("http://", "https://")):
            raise ConfigError("cloud_url", self.cloud_url, "must start with http:// or https://")

    @property
    def recovery_dir(self) -> Path:
        """Folder of recovery files (samples kept when the database refused them)."""
        return self.data_dir / "recovery"

    @classmethod
    def resolve(
        cls,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        db: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> CompanionConfig:
        """Build the configuration from flags, then environment, then defaults.

        Parameters
        ----------
        data_dir : path, optional
            Value of ``--data-dir``.
        db : path, optional
            Value of ``--db``.
        env : mapping, optional
            Environment to read (defaults to ``os.environ``).
        **overrides
            Other fields of :class:`CompanionConfig`; unknown names are rejected.

        Returns
        -------
        CompanionConfig
        """
        env = os.environ if env is None else env
        known = {f.name for f in dataclasses.fields(cls)} - {"data_dir", "db_path"}
        for key in overrides:
            if key not in known:
                raise ConfigError(key, overrides[key], f"unknown setting (known: {', '.join(sorted(known))})")
        if data_dir is not None:
            home = Path(data_dir)
        elif env.get(ENV_HOME):
            home = Path(env[ENV_HOME])
        elif env.get("XDG_DATA_HOME"):
            home = Path(env["XDG_DATA_HOME"]) / "cardiolink"
        else:
            home = Path.home() / ".local" / "share" / "cardiolink"
        home = home.expanduser()
        if db is not None:
            db_path = Path(db).expanduser()
        elif env.get(ENV_DB):
            db_path = Path(env[ENV_DB]).expanduser()
        else:
            db_path = home / DB_FILENAME
        if "cloud_url" not in overrides and env.get(ENV_CLOUD_URL):
            overrides["cloud_url"] = env[ENV_CLOUD_URL]
        return cls(data_dir=home, db_path=db_path, **overrides)

    def ensure_dirs(self) -> None:
        """Create the data folder and the database's folder if missing."""
        for folder in (self.data_dir, self.db_path.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
