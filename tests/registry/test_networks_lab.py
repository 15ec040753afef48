"""Issue #18's check: the same audit of the lab's 200 repositories gives the same answers directly,
through a real forward proxy (tinyproxy) and through a real mirror (a Distribution pull-through
cache of the anonymous registry), on asyncio and trio.

The answer recorded per reference is what ``audit`` reports of it: the digest it resolves to, the
selected platform's manifest, and the pull size."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial

import anyio
import pytest

from regimage._concurrency import gather_limited
from regimage.image.image import Image
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import CredentialStore
from regimage.registry.mirrors import Mirror, Mirrors
from tests.lab.lab import Lab, LabRegistry
from tests.lab.proxy import ForwardProxy

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Record = tuple[str, str, str, int]
#: A request in the -v log: "GET http://host/v2/... 200 ...".
_REQUEST = re.compile(r"^(?:GET|HEAD) https?://([^/]+)/")


async def _audit(registry: RegistryProvider, refs: list[str]) -> list[Record]:
    async def one(ref: str) -> Record:
        image = await Image.resolve(ref, registry)
        size = await image.size()
        return ref, str(image.target.digest), str(size.manifest_digest), size.total

    with anyio.fail_after(120):
        return await gather_limited([partial(one, ref) for ref in refs], 32)


def _provider(**kwargs: object) -> RegistryProvider:
    return RegistryProvider(credentials=CredentialStore(env={}, use_files=False), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def references(lab_batch: Lab) -> list[str]:
    return [lab_batch.anonymous.ref(image.reference) for image in lab_batch.batch.values()]


async def test_the_same_audit_directly_through_a_proxy_and_through_a_mirror(
    lab_batch: Lab,
    references: list[str],
    forward_proxy: ForwardProxy,
    lab_mirror: LabRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="regimage")
    assert len(references) == 200
    runs: dict[str, Callable[[], RegistryProvider]] = {
        "direct": _provider,
        "proxy": partial(_provider, proxy=forward_proxy.url),
        "mirror": partial(
            _provider, mirrors=Mirrors((Mirror(lab_batch.anonymous.host, lab_mirror.host),))
        ),
    }
    records: dict[str, list[Record]] = {}
    for name, make in runs.items():
        mark = forward_proxy.mark()
        caplog.clear()
        async with make() as registry:
            records[name] = await _audit(registry, references)
        through_proxy = forward_proxy.requests(mark)
        assert bool(through_proxy) == (name == "proxy"), (name, through_proxy[:3])
        hosts = {m[1] for r in caplog.records if (m := _REQUEST.match(r.getMessage()))}
        answered_by = lab_mirror.host if name == "mirror" else lab_batch.anonymous.host
        assert hosts == {answered_by}, name
    expected = [
        (
            lab_batch.anonymous.ref(image.reference),
            image.digest,
            image.default.manifest_digest,
            image.default.size,
        )
        for image in lab_batch.batch.values()
    ]
    assert records["direct"] == expected
    assert records["proxy"] == records["direct"]
    assert records["mirror"] == records["direct"]
