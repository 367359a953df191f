"""Backends behind small async interfaces: email, storage, cache."""
