"""``GET /v1/events``: the audit trail (see ``ticketbooth.audit``)."""
