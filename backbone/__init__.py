"""Shared kernel of the backbone: settings, errors, topics, serde, identifiers, metrics.

Connectors, stream processors and services import from here, never from each other.
"""
