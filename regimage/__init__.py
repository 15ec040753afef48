"""regimage: resolve container images remotely, without pulling a layer.

Every public name is importable from here. They load lazily (PEP 562) so that ``import regimage``
and ``regimage --version`` cost no httpx or anyio import; type checkers see the explicit imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from regimage._version import __version__

if TYPE_CHECKING:
    from regimage.descriptor import Descriptor
    from regimage.digest import Digest
    from regimage.errors import (
        AccessDenied,
        AuthenticationError,
        DigestMismatch,
        InvalidChallenge,
        InvalidDigest,
        InvalidDocument,
        InvalidPlatform,
        InvalidReference,
        NetworkError,
        NoMatchingPlatform,
        NotAnImage,
        NotFound,
        RateLimited,
        RegImageError,
        RegistryError,
        RegistryErrorDetail,
        SizeLimitExceeded,
        SizeMismatch,
        UnsupportedMediaType,
        WalkLimitExceeded,
    )
    from regimage.platforms import Platform
    from regimage.provider import MemoryProvider, Provider

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "AccessDenied": "errors",
    "AuthenticationError": "errors",
    "Descriptor": "descriptor",
    "Digest": "digest",
    "DigestMismatch": "errors",
    "InvalidChallenge": "errors",
    "InvalidDigest": "errors",
    "InvalidDocument": "errors",
    "InvalidPlatform": "errors",
    "InvalidReference": "errors",
    "MemoryProvider": "provider",
    "NetworkError": "errors",
    "NoMatchingPlatform": "errors",
    "NotAnImage": "errors",
    "NotFound": "errors",
    "Platform": "platforms",
    "Provider": "provider",
    "RateLimited": "errors",
    "RegImageError": "errors",
    "RegistryError": "errors",
    "RegistryErrorDetail": "errors",
    "SizeLimitExceeded": "errors",
    "SizeMismatch": "errors",
    "UnsupportedMediaType": "errors",
    "WalkLimitExceeded": "errors",
}

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "Descriptor",
    "Digest",
    "DigestMismatch",
    "InvalidChallenge",
    "InvalidDigest",
    "InvalidDocument",
    "InvalidPlatform",
    "InvalidReference",
    "MemoryProvider",
    "NetworkError",
    "NoMatchingPlatform",
    "NotAnImage",
    "NotFound",
    "Platform",
    "Provider",
    "RateLimited",
    "RegImageError",
    "RegistryError",
    "RegistryErrorDetail",
    "SizeLimitExceeded",
    "SizeMismatch",
    "UnsupportedMediaType",
    "WalkLimitExceeded",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'regimage' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"regimage.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
