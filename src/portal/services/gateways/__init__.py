"""Payment gateways: the interface and its types (`base`), and the two adapters, the
national payment platform (`national`) and a VNPay-compatible gateway (`vnpay`)."""

from __future__ import annotations

from collections.abc import Callable

from portal.services.gateways import national, vnpay
from portal.services.gateways.base import (
    GATEWAY_NAMES,
    LABELS,
    TITLES,
    Checkout,
    Gateway,
    GatewayConfig,
    GatewayUnavailable,
    Report,
)

__all__ = [
    "GATEWAY_NAMES",
    "LABELS",
    "TITLES",
    "Checkout",
    "Gateway",
    "GatewayConfig",
    "GatewayUnavailable",
    "Report",
    "make",
    "national",
    "vnpay",
]
ADAPTERS: dict[str, Callable[[GatewayConfig], Gateway]] = {
    "vnpay": vnpay.VNPay,
    "national": national.National,
}


def make(config: GatewayConfig) -> Gateway:
    """The adapter for `config`."""
    return ADAPTERS[config.name](config)
