"""The tickets resource: ``/v1/tickets`` and its sub-resources."""
