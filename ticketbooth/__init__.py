"""TicketBooth: hand out iRODS data through tickets and S3 keys bound to them."""
from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
