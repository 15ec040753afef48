"""regimage: resolve container images remotely, without pulling a layer.

Every public name is importable from here. :data:`_EXPORTS` is the list of them: ``__all__`` is
made from it, and the names load lazily from it (PEP 562), so that ``import regimage`` and
``regimage --version`` import neither httpx nor anyio (about 70 ms). Type checkers cannot follow a
lazy load, so they read the same names as imports under ``TYPE_CHECKING``;
``tests/test_public_api.py`` holds the two lists equal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from regimage._version import __version__ as __version__

if TYPE_CHECKING:
    from regimage.content.cache import ContentCache as ContentCache
    from regimage.content.disk_cache import DiskCache as DiskCache
    from regimage.content.memory_cache import MemoryCache as MemoryCache
    from regimage.content.oci_layout import OCILayout as OCILayout, OCIReference as OCIReference
    from regimage.content.provider import (
        MemoryProvider as MemoryProvider,
        Provider as Provider,
        ReferrersProvider as ReferrersProvider,
        Resolver as Resolver,
    )
    from regimage.errors import (
        AccessDenied as AccessDenied,
        AuthenticationError as AuthenticationError,
        DigestMismatch as DigestMismatch,
        InvalidChallenge as InvalidChallenge,
        InvalidDigest as InvalidDigest,
        InvalidDocument as InvalidDocument,
        InvalidPlatform as InvalidPlatform,
        InvalidReference as InvalidReference,
        NetworkError as NetworkError,
        NoMatchingPlatform as NoMatchingPlatform,
        NotAnImage as NotAnImage,
        NotFound as NotFound,
        RateLimited as RateLimited,
        RegImageError as RegImageError,
        RegistryError as RegistryError,
        RegistryErrorDetail as RegistryErrorDetail,
        SizeLimitExceeded as SizeLimitExceeded,
        SizeMismatch as SizeMismatch,
        UnsupportedMediaType as UnsupportedMediaType,
        WalkLimitExceeded as WalkLimitExceeded,
    )
    from regimage.http.request_log import RequestStats as RequestStats
    from regimage.http.retry import RetryPolicy as RetryPolicy
    from regimage.image.answers import (
        ImageConfigResult as ImageConfigResult,
        ImageSize as ImageSize,
        PlatformSize as PlatformSize,
        PlatformSizes as PlatformSizes,
        SelectedManifest as SelectedManifest,
    )
    from regimage.image.image import Image as Image
    from regimage.image.walk import Handler as Handler, walk as walk
    from regimage.model.descriptor import Descriptor as Descriptor
    from regimage.model.digest import Digest as Digest
    from regimage.model.image_config import (
        HistoryEntry as HistoryEntry,
        ImageConfig as ImageConfig,
        chain_ids as chain_ids,
    )
    from regimage.model.manifest import (
        Index as Index,
        Manifest as Manifest,
        parse_document as parse_document,
    )
    from regimage.model.platform import Platform as Platform
    from regimage.model.platform_match import PlatformMatcher as PlatformMatcher
    from regimage.model.ratelimit import RateLimit as RateLimit
    from regimage.model.reference import Reference as Reference
    from regimage.model.schema1 import Schema1Manifest as Schema1Manifest
    from regimage.registry.client import (
        RegistryProvider as RegistryProvider,
        Repository as Repository,
    )
    from regimage.registry.credentials import (
        Credentials as Credentials,
        CredentialStore as CredentialStore,
    )

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "ContentCache": "content.cache",
    "DiskCache": "content.disk_cache",
    "MemoryCache": "content.memory_cache",
    "RateLimit": "model.ratelimit",
    "AccessDenied": "errors",
    "AuthenticationError": "errors",
    "CredentialStore": "registry.credentials",
    "Credentials": "registry.credentials",
    "Descriptor": "model.descriptor",
    "Digest": "model.digest",
    "DigestMismatch": "errors",
    "Handler": "image.walk",
    "HistoryEntry": "model.image_config",
    "Image": "image.image",
    "ImageConfig": "model.image_config",
    "ImageConfigResult": "image.answers",
    "ImageSize": "image.answers",
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
    "Platform": "model.platform",
    "PlatformMatcher": "model.platform_match",
    "PlatformSize": "image.answers",
    "PlatformSizes": "image.answers",
    "Provider": "content.provider",
    "RateLimited": "errors",
    "Reference": "model.reference",
    "ReferrersProvider": "content.provider",
    "RegImageError": "errors",
    "RegistryError": "errors",
    "RegistryErrorDetail": "errors",
    "RegistryProvider": "registry.client",
    "Repository": "registry.client",
    "RequestStats": "http.request_log",
    "Resolver": "content.provider",
    "RetryPolicy": "http.retry",
    "Schema1Manifest": "model.schema1",
    "SelectedManifest": "image.answers",
    "SizeLimitExceeded": "errors",
    "SizeMismatch": "errors",
    "UnsupportedMediaType": "errors",
    "WalkLimitExceeded": "errors",
    "chain_ids": "model.image_config",
    "parse_document": "model.manifest",
    "walk": "image.walk",
}

__all__ = sorted([*_EXPORTS, "__version__"], key=str.casefold)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'regimage' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"regimage.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
