"""The web app and REST API retention teams, the CCO and CRMs use (`customer-health serve`).

It reads only the read-only serving copy of the output tables and the live model's card; what
people write (band overrides and their audit trail) goes to the SQLite file ``<home>/app.sqlite``.
``app.create_app`` builds the FastAPI application, ``server.serve`` runs it.
"""
