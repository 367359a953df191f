"""Beanie documents the framework stores (users, sessions, jobs) live here."""
