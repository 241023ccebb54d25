"""Onboarding a city: scaffolding a plugin, a new scheme year, the conformance check, what-if.

An operator's tools (``mutual-aid city …``, commands.py): they sit above the kernel and the
services' domain code and below the CLI; no service imports them.
"""
