"""The package's public names, pinned."""

from __future__ import annotations

import tollhouse


def test_public_names() -> None:
    assert sorted(tollhouse.__all__) == [
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
    for name in tollhouse.__all__:
        assert getattr(tollhouse, name) is not None
