"""The HTTP API: authentication, error responses and one blueprint per resource.

``BLUEPRINTS`` is the registry ``ticketbooth.app.create_app`` registers, in order; a resource package adds its
flask-smorest ``Blueprint`` here (one import, one list entry).
"""
from __future__ import annotations

from flask_smorest import Blueprint

from .resources.authorize.routes import blp as authorize_blp
from .resources.events.routes import blp as events_blp
from .resources.presign.routes import blp as presign_blp
from .resources.tickets.routes import blp as tickets_blp

__all__ = ["BLUEPRINTS"]

BLUEPRINTS: list[Blueprint] = [
    tickets_blp,
    authorize_blp,
    presign_blp,
    events_blp,
]
