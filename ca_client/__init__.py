"""Issuers: the one interface through which the station gets certificates."""
