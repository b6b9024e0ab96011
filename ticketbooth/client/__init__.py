"""The TicketBooth client: an HTTP client for the API (:mod:`.http`), the ``login``/``share``/``tickets``/
``credentials`` subcommands (:mod:`.commands`), and merging a profile into S3 clients' files (:mod:`.merge`,
:mod:`.install`)."""
from __future__ import annotations

from .http import ApiClient, ApiError
from .install import Installed, install_profile, target_files
from .login import Login, LoginFileInvalid, resolve
from .merge import ConfigFileInvalid, merge_mc_config, replace_section, update_keys

__all__ = ["ApiClient", "ApiError", "ConfigFileInvalid", "Installed", "Login", "LoginFileInvalid",
           "install_profile", "merge_mc_config", "replace_section", "resolve", "target_files", "update_keys"]
