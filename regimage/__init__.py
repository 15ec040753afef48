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

    from regimage.content.cache import ContentCache, DiskCache, MemoryCache
    from regimage.content.oci_layout import OCILayout, OCIReference
    from regimage.content.provider import MemoryProvider, Provider, ReferrersProvider, Resolver
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
    from regimage.http.transport import RequestStats, RetryPolicy
    from regimage.image.image import (
        Image,
        ImageConfigResult,
        ImageSize,
        PlatformSize,
        PlatformSizes,
        SelectedManifest,
    )
    from regimage.model.descriptor import Descriptor
    from regimage.model.digest import Digest
    from regimage.model.image_config import HistoryEntry, ImageConfig, chain_ids
    from regimage.model.manifest import Index, Manifest, parse_document
    from regimage.model.platforms import Platform, PlatformMatcher
    from regimage.model.ratelimit import RateLimit
    from regimage.model.reference import Reference
    from regimage.model.schema1 import Schema1Manifest
    from regimage.registry.client import RegistryProvider, Repository
    from regimage.registry.credentials import Credentials, CredentialStore

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "ContentCache": "content.cache",
    "DiskCache": "content.cache",
    "MemoryCache": "content.cache",
    "RateLimit": "model.ratelimit",
    "AccessDenied": "errors",
    "AuthenticationError": "errors",
    "CredentialStore": "registry.credentials",
    "Credentials": "registry.credentials",
    "Descriptor": "model.descriptor",
    "Digest": "model.digest",
    "DigestMismatch": "errors",
    "HistoryEntry": "model.image_config",
    "Image": "image.image",
    "ImageConfig": "model.image_config",
    "ImageConfigResult": "image.image",
    "ImageSize": "image.image",
    "Index": "model.manifest",
    "InvalidChallenge": "errors",
    "InvalidDigest": "errors",
    "InvalidDocument": "errors",
    "InvalidPlatform": "errors",
    "InvalidReference": "errors",
    "Manifest": "model.manifest",
    "MemoryProvider": "content.provider",
    "NetworkError": "errors",
    "NoMatchingPlatform": "errors",
    "NotAnImage": "errors",
    "NotFound": "errors",
    "OCILayout": "content.oci_layout",
    "OCIReference": "content.oci_layout",
    "Platform": "model.platforms",
    "PlatformMatcher": "model.platforms",
    "PlatformSize": "image.image",
    "PlatformSizes": "image.image",
    "Provider": "content.provider",
    "RateLimited": "errors",
    "Reference": "model.reference",
    "ReferrersProvider": "content.provider",
    "RegImageError": "errors",
    "RegistryError": "errors",
    "RegistryErrorDetail": "errors",
    "RegistryProvider": "registry.client",
    "Repository": "registry.client",
    "RequestStats": "http.transport",
    "Resolver": "content.provider",
    "RetryPolicy": "http.transport",
    "Schema1Manifest": "model.schema1",
    "SelectedManifest": "image.image",
    "SizeLimitExceeded": "errors",
    "SizeMismatch": "errors",
    "UnsupportedMediaType": "errors",
    "WalkLimitExceeded": "errors",
    "chain_ids": "model.image_config",
    "parse_document": "model.manifest",
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
