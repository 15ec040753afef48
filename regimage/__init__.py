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
        RangeReader as RangeReader,
        ReferrersProvider as ReferrersProvider,
        Resolver as Resolver,
    )
    from regimage.errors import (
        AccessDenied as AccessDenied,
        AuthenticationError as AuthenticationError,
        DigestMismatch as DigestMismatch,
        InvalidChallenge as InvalidChallenge,
        InvalidConfiguration as InvalidConfiguration,
        InvalidDigest as InvalidDigest,
        InvalidDocument as InvalidDocument,
        InvalidPlatform as InvalidPlatform,
        InvalidReference as InvalidReference,
        NetworkError as NetworkError,
        NoMatchingPlatform as NoMatchingPlatform,
        NotAnImage as NotAnImage,
        NotFound as NotFound,
        ProxyAuthenticationError as ProxyAuthenticationError,
        ProxyError as ProxyError,
        RateLimited as RateLimited,
        RegImageError as RegImageError,
        RegistryBlocked as RegistryBlocked,
        RegistryError as RegistryError,
        RegistryErrorDetail as RegistryErrorDetail,
        RootFSMismatch as RootFSMismatch,
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
    from regimage.image.diff import (
        DiffLayer as DiffLayer,
        DiffSide as DiffSide,
        ImageDiff as ImageDiff,
        PlatformsDiff as PlatformsDiff,
        diff as diff,
        diff_platforms as diff_platforms,
    )
    from regimage.image.image import Image as Image
    from regimage.image.unpacked import UnpackedSize as UnpackedSize
    from regimage.image.walk import Handler as Handler, walk as walk
    from regimage.model.byte_range import ByteRange as ByteRange
    from regimage.model.config_diff import (
        ConfigDiff as ConfigDiff,
        FieldChange as FieldChange,
        MappingDiff as MappingDiff,
    )
    from regimage.model.descriptor import Descriptor as Descriptor
    from regimage.model.digest import Digest as Digest
    from regimage.model.image_config import (
        HistoryEntry as HistoryEntry,
        ImageConfig as ImageConfig,
        chain_ids as chain_ids,
    )
    from regimage.model.layer_size import LayerSize as LayerSize
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
    from regimage.registry.mirror_files import load_mirrors as load_mirrors
    from regimage.registry.mirrors import Mirror as Mirror, Mirrors as Mirrors

#: Public name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "ContentCache": "content.cache",
    "DiskCache": "content.disk_cache",
    "MemoryCache": "content.memory_cache",
    "RateLimit": "model.ratelimit",
    "AccessDenied": "errors",
    "AuthenticationError": "errors",
    "ByteRange": "model.byte_range",
    "ConfigDiff": "model.config_diff",
    "CredentialStore": "registry.credentials",
    "Credentials": "registry.credentials",
    "Descriptor": "model.descriptor",
    "Digest": "model.digest",
    "DiffLayer": "image.diff",
    "DiffSide": "image.diff",
    "DigestMismatch": "errors",
    "FieldChange": "model.config_diff",
    "Handler": "image.walk",
    "HistoryEntry": "model.image_config",
    "Image": "image.image",
    "ImageConfig": "model.image_config",
    "ImageConfigResult": "image.answers",
    "ImageDiff": "image.diff",
    "ImageSize": "image.answers",
    "Index": "model.manifest",
    "InvalidChallenge": "errors",
    "InvalidConfiguration": "errors",
    "InvalidDigest": "errors",
    "InvalidDocument": "errors",
    "InvalidPlatform": "errors",
    "InvalidReference": "errors",
    "LayerSize": "model.layer_size",
    "Manifest": "model.manifest",
    "MappingDiff": "model.config_diff",
    "MemoryProvider": "content.provider",
    "Mirror": "registry.mirrors",
    "Mirrors": "registry.mirrors",
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
    "PlatformsDiff": "image.diff",
    "Provider": "content.provider",
    "ProxyAuthenticationError": "errors",
    "ProxyError": "errors",
    "RangeReader": "content.provider",
    "RateLimited": "errors",
    "Reference": "model.reference",
    "ReferrersProvider": "content.provider",
    "RegImageError": "errors",
    "RegistryBlocked": "errors",
    "RegistryError": "errors",
    "RegistryErrorDetail": "errors",
    "RegistryProvider": "registry.client",
    "Repository": "registry.client",
    "RequestStats": "http.request_log",
    "Resolver": "content.provider",
    "RetryPolicy": "http.retry",
    "RootFSMismatch": "errors",
    "Schema1Manifest": "model.schema1",
    "SelectedManifest": "image.answers",
    "SizeLimitExceeded": "errors",
    "SizeMismatch": "errors",
    "UnpackedSize": "image.unpacked",
    "UnsupportedMediaType": "errors",
    "WalkLimitExceeded": "errors",
    "chain_ids": "model.image_config",
    "diff": "image.diff",
    "diff_platforms": "image.diff",
    "load_mirrors": "registry.mirror_files",
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
