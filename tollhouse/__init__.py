"""Tollhouse: a self-hosted AI gateway that speaks Azure API Management."""

__version__ = "0.1.0"
