"""Django's PostgreSQL backend with the pool Convoy needs in an outage (see base.py)."""
