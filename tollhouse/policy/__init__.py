"""APIM policy documents: reading them, checking them and running them.

A policy document is APIM's XML (``<policies>`` with ``inbound``,
``backend``, ``outbound`` and ``on-error``) attached at global, product,
API or operation scope.  Expressions inside it (``@(...)``, ``@{...}``) are
the C# subset APIM users write, run by Tollhouse's own interpreter.
"""
