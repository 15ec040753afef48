"""regimage: resolve container images remotely, without pulling a layer.

Every public name is importable from here. They load lazily (PEP 562) so that ``import regimage``
and ``regimage --version`` cost no httpx or anyio import; type checkers see the explicit imports.
"""

from __future__ import annotations

import importlib

from regimage._version import __version__

#: ``typing.TYPE_CHECKING`` without importing :mod:`typing` (milliseconds of every start-up,
#: ``regimage --version`` included); type checkers treat the name alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from regimage.cache import ContentCache, DiskCache, MemoryCache
    from regimage.credentials import Credentials, CredentialStore
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
    from regimage.image import (
        Image,
        ImageConfigResult,
        ImageSize,
        PlatformSize,
        PlatformSizes,
        SelectedManifest,
    )
    from regimage.image_config import HistoryEntry, ImageConfig, chain_ids
    from regimage.manifest import Index, Manifest, parse_document
    from regimage.oci_layout import OCILayout, OCIReference
    from regimage.platforms import Platform, PlatformMatcher
    from regimage.provider import MemoryProvider, Provider, ReferrersProvider, Resolver
    from regimage.ratelimit import RateLimit
    from regimage.reference import Reference
    from regimage.registry import RegistryProvider, Repository
    from regimage.schema1 import Schema1Manifest
    from regimage.transport import RequestStats, RetryPolicy

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "ContentCache": "cache",
    "DiskCache": "cache",
    "MemoryCache": "cache",
    "RateLimit": "ratelimit",
    "AccessDenied": "errors",
    "AuthenticationError": "errors",
    "CredentialStore": "credentials",
    "Credentials": "credentials",
    "Descriptor": "descriptor",
    "Digest": "digest",
    "DigestMismatch": "errors",
    "HistoryEntry": "image_config",
    "Image": "image",
    "ImageConfig": "image_config",
    "ImageConfigResult": "image",
    "ImageSize": "image",
    "Index": "manifest",
    "InvalidChallenge": "errors",
    "InvalidDigest": "errors",
    "InvalidDocument": "errors",
    "InvalidPlatform": "errors",
    "InvalidReference": "errors",
    "Manifest": "manifest",
    "MemoryProvider": "provider",
    "NetworkError": "errors",
    "NoMatchingPlatform": "errors",
    "NotAnImage": "errors",
    "NotFound": "errors",
    "OCILayout": "oci_layout",
    "OCIReference": "oci_layout",
    "Platform": "platforms",
    "PlatformMatcher": "platforms",
    "PlatformSize": "image",
    "PlatformSizes": "image",
    "Provider": "provider",
    "RateLimited": "errors",
    "Reference": "reference",
    "ReferrersProvider": "provider",
    "RegImageError": "errors",
    "RegistryError": "errors",
    "RegistryErrorDetail": "errors",
    "RegistryProvider": "registry",
    "Repository": "registry",
    "RequestStats": "transport",
    "Resolver": "provider",
    "RetryPolicy": "transport",
    "Schema1Manifest": "schema1",
    "SelectedManifest": "image",
    "SizeLimitExceeded": "errors",
    "SizeMismatch": "errors",
    "UnsupportedMediaType": "errors",
    "WalkLimitExceeded": "errors",
    "chain_ids": "image_config",
    "parse_document": "manifest",
}

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "ContentCache",
    "CredentialStore",
    "Credentials",
    "Descriptor",
    "Digest",
    "DigestMismatch",
    "DiskCache",
    "HistoryEntry",
    "Image",
    "ImageConfig",
    "ImageConfigResult",
    "ImageSize",
    "Index",
    "InvalidChallenge",
    "InvalidDigest",
    "InvalidDocument",
    "InvalidPlatform",
    "InvalidReference",
    "Manifest",
    "MemoryCache",
    "MemoryProvider",
    "NetworkError",
    "NoMatchingPlatform",
    "NotAnImage",
    "NotFound",
    "OCILayout",
    "OCIReference",
    "Platform",
    "PlatformMatcher",
    "PlatformSize",
    "PlatformSizes",
    "Provider",
    "RateLimit",
    "RateLimited",
    "Reference",
    "ReferrersProvider",
    "RegImageError",
    "RegistryError",
    "RegistryErrorDetail",
    "RegistryProvider",
    "Repository",
    "RequestStats",
    "Resolver",
    "RetryPolicy",
    "Schema1Manifest",
    "SelectedManifest",
    "SizeLimitExceeded",
    "SizeMismatch",
    "UnsupportedMediaType",
    "WalkLimitExceeded",
    "__version__",
    "chain_ids",
    "parse_document",
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
