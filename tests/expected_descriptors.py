"""Descriptors of the lab's expected answers: what a test asks the provider to fetch.

(tests/lab stays free of regimage's own types: it is the oracle the answers are checked against.)
"""

from __future__ import annotations

from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from tests.lab.expected import ExpectedPlatform


def manifest_descriptor(platform: ExpectedPlatform) -> Descriptor:
    """The platform's image manifest, as an index entry would describe it."""
    return Descriptor(
        platform.manifest_media_type, Digest.parse(platform.manifest_digest), platform.manifest_size
    )


def config_descriptor(platform: ExpectedPlatform) -> Descriptor:
    """The platform's image config, as its manifest describes it."""
    return Descriptor(
        platform.config_media_type, Digest.parse(platform.config_digest), platform.config_size
    )
