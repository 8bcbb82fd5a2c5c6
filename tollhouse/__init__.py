"""Tollhouse: a self-hosted AI gateway that speaks Azure API Management.

The public names are re-exported here; everything else is internal.
"""

from .app import Gateway, serve
from .config import GatewayConfig, embedded_default, load_config
from .errors import (
    ConfigError,
    GatewayError,
    StoreError,
    TollhouseError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "StoreError",
    "TollhouseError",
    "__version__",
    "embedded_default",
    "load_config",
    "serve",
]
