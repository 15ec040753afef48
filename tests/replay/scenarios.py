"""Real-world registry behaviour, as reported in public sources, written down as replayable HTTP exchanges.

We cannot reach Docker Hub, GHCR, Quay, ECR, GCR/Artifact Registry, ACR, Harbor or Artifactory from the
test machine, so each scenario below records what those registries were *observed* to answer (their own
docs, and issue threads of containerd, go-containerregistry, regclient, containers/image, skopeo, oras,
distribution and others). Every fact carries its source; ``tests/replay/SOURCES.md`` lists them one per
line. Where a detail could not be sourced but a scenario needs a value, the exchange says
``assumed=True`` and its ``note`` names the assumed part.

How a replay harness reads a scenario (the contract this data is written for):

* ``exchanges`` are in the order a correct client makes them. A request is answered by the first
  exchange not yet used up whose ``method`` and ``url`` match. URLs compare scheme, host, path and
  the *parsed* query (a multiset of name/value pairs, order and percent-encoding ignored).
* ``times`` is how many matching requests the exchange answers (``None``: any number, e.g. a 429
  that keeps coming back while the client retries).
* ``optional=True``: a correct client may or may not make this request (a ``/v2/`` ping, or an
  OAuth2 POST tried before the GET a registry actually supports).
* ``trap=True``: a correct client never makes this request. It is answered as the real registry
  would answer it (so a wrong client fails realistically) and the test must also fail because it
  was made.
* ``request_headers_expected`` maps header names (case-insensitive) to a rule: :class:`Exact`,
  :class:`Absent` (the client must NOT send it, e.g. ``Authorization`` to a CDN), :class:`Present`
  (sent, starting with ``prefix``) or :class:`Contains` (comma-separated value holding every part,
  used for ``Accept``). If a rule is broken and ``violation`` is set, the harness answers with
  ``violation`` (what the real host answers then) instead of the normal answer.
* ``form``: for a POST, the form fields a correct client sends (the client may add others, e.g.
  ``client_id``).
* Response header names are given as the source showed them (Docker Hub answers over HTTP/2 in
  lower case); compare them case-insensitively. ``body`` is bytes, or a JSON object that the harness
  serialises with ``json.dumps(body, separators=(",", ":"))`` (byte-exactness is not claimed for those).
* ``expect`` says what the client must conclude: a digest/descriptor, a tag list, blob bytes, or an
  error class from ``regimage.errors`` whose message mentions each of ``error_mentions``.

Manifest and blob *bytes* are stand-ins taken from ``tests/vectors/real_manifests`` (real images where
possible); the headers and statuses around them are what the sources report. A Docker-Content-Digest
header is always the digest of the stand-in body, so that a client that verifies it can pass.

Importing this module checks the data (unique names, https URLs, digests that match bodies, traps
that are not also optional ...) and raises ``ValueError`` if anything is inconsistent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

from regimage.errors import (
    AccessDenied,
    AuthenticationError,
    RateLimited,
    RegImageError,
    UnsupportedMediaType,
)
from regimage.model.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1_SIGNED_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)

__all__ = [
    "SCENARIOS",
    "Absent",
    "Body",
    "Contains",
    "Credentials",
    "Exact",
    "Exchange",
    "Expect",
    "HeaderRule",
    "Present",
    "Reply",
    "Scenario",
    "by_name",
]

# --------------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------------

Method = Literal["GET", "HEAD", "POST"]
Registry = Literal[
    "dockerhub", "ghcr", "quay", "ecr", "gcr", "artifact-registry", "acr", "artifactory", "harbor",
    "redhat", "pierone",
]  # fmt: skip
Operation = Literal["resolve", "fetch_manifest", "fetch_blob", "head_blob", "tags", "catalog"]
JSONBody: TypeAlias = Mapping[str, object]
Body: TypeAlias = bytes | JSONBody


@dataclass(frozen=True, slots=True)
class Exact:
    """The header must have exactly this value."""

    value: str


@dataclass(frozen=True, slots=True)
class Absent:
    """The header must NOT be sent (e.g. ``Authorization`` to a CDN or object store)."""


@dataclass(frozen=True, slots=True)
class Present:
    """The header must be sent; its value starts with ``prefix`` (``""``: any value)."""

    prefix: str = ""


@dataclass(frozen=True, slots=True)
class Contains:
    """The header's comma-separated value must include every one of ``parts`` (parameters ignored)."""

    parts: tuple[str, ...]


HeaderRule: TypeAlias = Exact | Absent | Present | Contains


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, headers, body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = b""


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request a client makes and what the real registry was reported to answer."""

    method: Method
    url: str
    status: int
    request_headers_expected: Mapping[str, HeaderRule] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = b""
    form: Mapping[str, str] | None = None
    times: int | None = 1
    optional: bool = False
    trap: bool = False
    violation: Reply | None = None
    assumed: bool = False
    note: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the user configured for ``host``; ``via`` says where a client would find it."""

    host: str
    username: str
    secret: str
    kind: Literal["password", "identity_token"] = "password"
    via: str = "explicit username/password"


@dataclass(frozen=True, slots=True)
class Expect:
    """What the client must conclude.

    ``operation`` is the RegistryProvider call: ``resolve`` (reference -> descriptor),
    ``fetch_manifest`` (resolve, then GET the manifest by the resolved digest), ``fetch_blob`` /
    ``head_blob`` (of ``blob_digest``/``blob_size``), ``tags`` (of the reference's repository, with
    ``page_size`` if set) or ``catalog`` (of the reference's host). ``requests`` is a subset of
    ``RegistryProvider.stats`` that must match exactly (only counts that do not depend on whether a
    401 answer is counted are given); ``sleeps`` the backoff delays (injected clock) the client must
    take, in seconds.
    """

    operation: Operation
    reference: str
    digest: str | None = None
    media_type: str | None = None
    size: int | None = None
    blob_digest: str | None = None
    blob_size: int | None = None
    blob_media_type: str | None = None
    tags: tuple[str, ...] | None = None
    page_size: int | None = None
    error: type[RegImageError] | None = None
    error_mentions: tuple[str, ...] = ()
    requests: Mapping[str, int] = field(default_factory=dict)
    sleeps: tuple[float, ...] | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, sourced sequence of exchanges with one registry, and the conclusion to reach."""

    name: str
    registry: Registry
    summary: str
    sources: tuple[str, ...]
    exchanges: tuple[Exchange, ...]
    expect: Expect
    credentials: tuple[Credentials, ...] = ()
    behaviours: tuple[str, ...] = ()

    @property
    def assumed(self) -> bool:
        """True when any exchange carries a detail that could not be sourced."""
        return any(exchange.assumed for exchange in self.exchanges)


# --------------------------------------------------------------------------------------------------
# Stand-in bodies (byte-exact files from tests/vectors/real_manifests) and helpers
# --------------------------------------------------------------------------------------------------

_VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "real_manifests"


def _vector(hex_digest: str, suffix: str = ".json") -> bytes:
    return (_VECTORS / f"sha256_{hex_digest}{suffix}").read_bytes()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")


#: docker.io/library/hello-world:latest, Docker manifest list (11 platforms), from oras-go testdata.
HELLO_LIST = _vector("faa03e786c97f07ef34423fccceeec2398ec8a5759259f94d99078f264e9d7af")
#: hello-world linux/amd64 image config (Docker config media type).
HELLO_CONFIG = _vector("feb5d9fea6a5e9606aa995e879d862b825965ba48de054caab5ef356dc6b3412")
#: A synthetic OCI image index (regclient testdata) standing in for "an image published as an index".
OCI_INDEX_BODY = _vector("dfae8f425735a5e3a72e40d6609e03079995511d48157c74d54801ff4430491e")
#: The official busybox arm32v5 OCI image config, standing in for "some config blob".
OCI_CONFIG_BODY = _vector("7288d1ff118a07f6db3e5c3114bb5bf17dfcf01b7e9db435efb9eac245a96e50")
#: The Docker image manifest v2.2 spec example (schema2), standing in for "some schema2 manifest".
SCHEMA2_BODY = _vector("20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55")
#: A signed schema1 manifest (docker.io/mitr/busybox, 2016), exact bytes as served.
SCHEMA1_SIGNED_BODY = _vector("7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000")

#: The Accept a correct client sends for manifests (DESIGN.md section 4): all four image types.
ACCEPT = Contains((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
NO_AUTH: Mapping[str, HeaderRule] = {"Authorization": Absent()}


def _bearer(token: str) -> Exact:
    return Exact(f"Bearer {token}")


def _manifest_headers(body: bytes, media_type: str) -> dict[str, str]:
    """Headers a distribution-style registry sends with a manifest (digest of the stand-in body)."""
    digest = _sha(body)
    return {
        "Content-Type": media_type,
        "Content-Length": str(len(body)),
        "Docker-Content-Digest": digest,
        "Docker-Distribution-Api-Version": "registry/2.0",
        "Etag": f'"{digest}"',
    }


def _errors(code: str, message: str, **extra: object) -> JSONBody:
    return {"errors": [{"code": code, "message": message, **extra}]}


# --------------------------------------------------------------------------------------------------
# Docker Hub
# --------------------------------------------------------------------------------------------------

HUB = "https://registry-1.docker.io"
HUB_REALM = "https://auth.docker.io/token"
HUB_TOKEN = "hub-anonymous-token"
HUB_V2_CHALLENGE = f'Bearer realm="{HUB_REALM}",service="registry.docker.io"'
HUB_HELLO_SCOPE = "repository:library/hello-world:pull"
HUB_HELLO_CHALLENGE = f'{HUB_V2_CHALLENGE},scope="{HUB_HELLO_SCOPE}"'
HUB_401_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Docker-Distribution-Api-Version": "registry/2.0",
    "Www-Authenticate": HUB_HELLO_CHALLENGE,
}
HUB_TOKEN_BODY: JSONBody = {
    "token": HUB_TOKEN,
    "access_token": HUB_TOKEN,
    "expires_in": 300,
    "issued_at": "2022-11-01T06:11:20.10593176Z",
}
HUB_SOURCES_AUTH = (
    "https://github.com/distribution/distribution/issues/1589",
    "containers/image:docker/wwwauthenticate_test.go (TestParseValueAndParams)",
    "https://github.com/containerd/containerd/issues/1318",
)
CF_REDIRECT_SOURCES = (
    "https://github.com/opencontainers/distribution-spec/issues/299",
    "https://github.com/docker/docs/pull/25122",
)


def _hub_auth(method: Method, url: str) -> tuple[Exchange, Exchange]:
    """The unauthenticated request answered 401, and the anonymous token fetch it leads to."""
    return (
        Exchange(
            method,
            url,
            401,
            request_headers_expected=NO_AUTH,
            response_headers=HUB_401_HEADERS,
            body=b"" if method == "HEAD" else _errors("UNAUTHORIZED", "authentication required"),
            assumed=method != "HEAD",
            note="" if method == "HEAD" else "assumed: the exact JSON of the 401 body",
            sources=HUB_SOURCES_AUTH,
        ),
        Exchange(
            "GET",
            f"{HUB_REALM}?scope={HUB_HELLO_SCOPE}&service=registry.docker.io",
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Type": "application/json"},
            body=HUB_TOKEN_BODY,
            assumed=True,
            note="assumed: token body shape (a 2016 report saw only 'token'; the token spec adds "
            "access_token/expires_in/issued_at)",
            sources=(
                "https://github.com/distribution/distribution/issues/1589",
                "docker/docs:content/manuals/docker-hub/usage/pulls.md",
            ),
        ),
    )


HUB_HELLO_MANIFEST_URL = f"{HUB}/v2/library/hello-world/manifests/latest"

DOCKERHUB_RESOLVE = Scenario(
    name="dockerhub-resolve-official-image-anonymous",
    registry="dockerhub",
    summary="'hello-world' resolves on registry-1.docker.io under library/, with an anonymous token; "
    "the HEAD answer carries the rate-limit headers and does not count against the limit.",
    sources=(
        "docker/docs:content/manuals/docker-hub/usage/pulls.md",
        "https://github.com/docker/docs/pull/11707",
        "https://github.com/docker/docs/pull/12945",
        "https://github.com/distribution/distribution/issues/1203",
        *HUB_SOURCES_AUTH,
    ),
    exchanges=(
        Exchange(
            "GET",
            f"{HUB}/v2/",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/json; charset=utf-8",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Www-Authenticate": HUB_V2_CHALLENGE,
            },
            body=_errors("UNAUTHORIZED", "authentication required"),
            optional=True,
            assumed=True,
            note="the /v2/ challenge has no scope (containerd#1318); body JSON assumed",
            sources=("https://github.com/containerd/containerd/issues/1318",),
        ),
        *_hub_auth("HEAD", HUB_HELLO_MANIFEST_URL),
        Exchange(
            "HEAD",
            HUB_HELLO_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN), "Accept": ACCEPT},
            response_headers={
                **{
                    k.lower(): v
                    for k, v in _manifest_headers(HELLO_LIST, DOCKER_MANIFEST_LIST).items()
                },
                "strict-transport-security": "max-age=31536000",
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "76;w=21600",
                "docker-ratelimit-source": "192.0.2.1",
            },
            note="header names in lower case (HTTP/2); ratelimit values from the docs' example",
            sources=(
                "https://github.com/docker/docs/pull/11707",
                "docker/docs:content/manuals/docker-hub/usage/pulls.md",
                "https://github.com/docker/hub-feedback/issues/2464",
            ),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="hello-world",
        digest=_sha(HELLO_LIST),
        media_type=DOCKER_MANIFEST_LIST,
        size=len(HELLO_LIST),
        requests={"manifest": 0, "token": 1},
        note="no manifest GET at all: a GET counts as a pull, a HEAD does not",
    ),
    behaviours=(
        "normalise 'hello-world' to docker.io/library/hello-world and talk to registry-1.docker.io",
        "resolve with HEAD, not GET: Docker Hub counts GETs of manifests against the pull limit",
        "parse the Bearer challenge; GET the realm with service and scope, no credentials",
        "send the full manifest Accept list on HEAD",
        "a /v2/ ping (if made) has no scope: never reuse a ping's scope for a repository",
    ),
)

HUB_CONFIG_URL = f"{HUB}/v2/library/hello-world/blobs/{_sha(HELLO_CONFIG)}"
HUB_CDN_URL = (
    "https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/"
    f"{_sha(HELLO_CONFIG)[7:9]}/{_sha(HELLO_CONFIG)[7:]}/data?verify=1632139768-illustrative%3D"
)

DOCKERHUB_BLOB_CDN = Scenario(
    name="dockerhub-blob-redirect-to-cloudflare-cdn",
    registry="dockerhub",
    summary="A blob GET is answered 307 to production.cloudflare.docker.com; the client follows it "
    "without the registry's Authorization.",
    sources=CF_REDIRECT_SOURCES,
    exchanges=(
        *_hub_auth("GET", HUB_CONFIG_URL),
        Exchange(
            "GET",
            HUB_CONFIG_URL,
            307,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": HUB_CDN_URL,
                "content-length": "0",
                "strict-transport-security": "max-age=31536000",
            },
            note="the verify= value is illustrative; its form (unix time, dash, signature) is reported",
            sources=CF_REDIRECT_SOURCES,
        ),
        Exchange(
            "GET",
            HUB_CDN_URL,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(HELLO_CONFIG)),
            },
            body=HELLO_CONFIG,
            assumed=True,
            note="assumed: the CDN's 200 headers",
            sources=CF_REDIRECT_SOURCES,
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference="docker.io/library/hello-world:latest",
        blob_digest=_sha(HELLO_CONFIG),
        blob_size=len(HELLO_CONFIG),
        blob_media_type=DOCKER_CONFIG,
        requests={"token": 1},
    ),
    behaviours=(
        "follow 307 on blob GETs",
        "never send the registry's Authorization to another host",
        "verify the bytes from the CDN against the descriptor's digest and size",
    ),
)

HUB_R2_URL = (
    "https://docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com/"
    f"registry-v2/docker/registry/v2/blobs/sha256/{_sha(HELLO_CONFIG)[7:9]}/{_sha(HELLO_CONFIG)[7:]}/"
    "data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1200&X-Amz-Signature=illustrative"
)
R2_VIOLATION = Reply(
    400,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code>'
    b"<Message>Missing x-amz-content-sha256</Message></Error>",
)

DOCKERHUB_BLOB_R2 = Scenario(
    name="dockerhub-blob-redirect-to-r2-rejects-authorization",
    registry="dockerhub",
    summary="Anonymous/Personal pulls are redirected to Cloudflare R2 storage, which answers 400 "
    "(XML) when the registry's Authorization header is forwarded.",
    sources=(
        "https://github.com/docker/docs/pull/25122",
        "https://github.com/docker/docs/pull/21867",
        "https://github.com/ciiiii/cloudflare-docker-proxy/issues/100",
        "https://github.com/ciiiii/cloudflare-docker-proxy/pull/104",
        "https://github.com/tetratelabs/car/issues/35",
        "https://github.com/tetratelabs/car/pull/36",
    ),
    exchanges=(
        *_hub_auth("GET", HUB_CONFIG_URL),
        Exchange(
            "GET",
            HUB_CONFIG_URL,
            307,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": HUB_R2_URL,
                "content-length": "0",
            },
            assumed=True,
            note="assumed: the presigned query of the R2 Location (host and path are reported)",
            sources=("https://github.com/docker/docs/pull/25122",),
        ),
        Exchange(
            "GET",
            HUB_R2_URL,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Length": str(len(HELLO_CONFIG))},
            body=HELLO_CONFIG,
            violation=R2_VIOLATION,
            assumed=True,
            note="the 400 XML on a forwarded Authorization is reported; the 200 headers are assumed",
            sources=(
                "https://github.com/ciiiii/cloudflare-docker-proxy/issues/100",
                "https://github.com/tetratelabs/car/issues/35",
            ),
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference="docker.io/library/hello-world:latest",
        blob_digest=_sha(HELLO_CONFIG),
        blob_size=len(HELLO_CONFIG),
        blob_media_type=DOCKER_CONFIG,
        requests={"token": 1},
    ),
    behaviours=(
        "drop Authorization on a cross-origin redirect even when the client follows redirects itself",
        "a 400 with an XML body from the storage host must not be parsed as a registry JSON error",
    ),
)

HUB_ALPINE_URL = f"{HUB}/v2/library/alpine/manifests/latest"
HUB_ALPINE_SCOPE = "repository:library/alpine:pull"
HUB_LIMITED_DIGEST = "sha256:c2d41d2ba6d8b7b4a3ffec621578eb4d9a0909df29dfa2f6fd8a2e5fd0836aed"
HUB_429_BODY = _errors(
    "TOOMANYREQUESTS",
    "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit",
)

DOCKERHUB_PULL_LIMIT = Scenario(
    name="dockerhub-pull-limit-exhausted",
    registry="dockerhub",
    summary="With the limit used up, HEAD still answers 200 (ratelimit-remaining: 0) but the manifest "
    "GET answers 429 TOOMANYREQUESTS; retrying does not help.",
    sources=(
        "https://github.com/docker/hub-feedback/issues/2464",
        "docker/docs:content/manuals/docker-hub/usage/pulls.md",
        "https://github.com/docker/docs/issues/21908",
        "https://github.com/ScribeMD/docker-cache/issues/829",
    ),
    exchanges=(
        Exchange(
            "HEAD",
            HUB_ALPINE_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                **HUB_401_HEADERS,
                "Www-Authenticate": f'{HUB_V2_CHALLENGE},scope="{HUB_ALPINE_SCOPE}"',
            },
            sources=HUB_SOURCES_AUTH,
        ),
        Exchange(
            "GET",
            f"{HUB_REALM}?scope={HUB_ALPINE_SCOPE}&service=registry.docker.io",
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Type": "application/json"},
            body=HUB_TOKEN_BODY,
            assumed=True,
            note="assumed: token body shape",
        ),
        Exchange(
            "HEAD",
            HUB_ALPINE_URL,
            200,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN), "Accept": ACCEPT},
            response_headers={
                "content-length": "527",
                "content-type": DOCKER_MANIFEST,
                "docker-content-digest": HUB_LIMITED_DIGEST,
                "docker-distribution-api-version": "registry/2.0",
                "etag": f'"{HUB_LIMITED_DIGEST}"',
                "strict-transport-security": "max-age=31536000",
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "0;w=21600",
                "docker-ratelimit-source": "2001:41d0:801:2000::",
            },
            note="headers verbatim from the report (the repository there is not named; alpine stands in)",
            sources=("https://github.com/docker/hub-feedback/issues/2464",),
        ),
        Exchange(
            "GET",
            f"{HUB}/v2/library/alpine/manifests/{HUB_LIMITED_DIGEST}",
            429,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN), "Accept": ACCEPT},
            response_headers={
                "content-type": "application/json",
                "docker-distribution-api-version": "registry/2.0",
            },
            body=HUB_429_BODY,
            times=None,
            assumed=True,
            note="message text from hub-feedback#2464 (2025); the docs page words it 'You have "
            "reached your pull rate limit. You may increase the limit by authenticating and "
            "upgrading: https://www.docker.com/increase-rate-limits'; 429 headers assumed",
            sources=(
                "https://github.com/docker/hub-feedback/issues/2464",
                "docker/docs:content/manuals/docker-hub/usage/pulls.md",
                "https://github.com/docker/docs/issues/21908",
            ),
        ),
    ),
    expect=Expect(
        operation="fetch_manifest",
        reference="alpine",
        error=RateLimited,
        error_mentions=("pull rate limit",),
        note="resolve succeeds (digest above); the GET is retried per the retry policy, then "
        "RateLimited carries the registry's message and errors[0].code == 'TOOMANYREQUESTS'",
    ),
    behaviours=(
        "map 429 + TOOMANYREQUESTS to RateLimited with the registry's message",
        "retry 429 with capped backoff, then give up (the window is 6 hours)",
        "expose ratelimit-remaining so a caller can see 0 before it fails (nice to have)",
    ),
)

DOCKERHUB_ABUSE_LIMIT = Scenario(
    name="dockerhub-abuse-limit-text-429-retry-after",
    registry="dockerhub",
    summary="Docker Hub's overall (anti-abuse) limit answers 429 in text/plain with Retry-After: 60; "
    "the client waits as told and succeeds.",
    sources=(
        "https://github.com/docker/hub-feedback/issues/1907",
        "https://github.com/docker/hub-feedback/issues/2040",
    ),
    exchanges=(
        *_hub_auth("HEAD", HUB_HELLO_MANIFEST_URL),
        Exchange(
            "HEAD",
            HUB_HELLO_MANIFEST_URL,
            429,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN)},
            response_headers={
                "Cache-Control": "no-cache",
                "Connection": "close",
                "Content-Type": "text/plain",
                "Retry-After": "60",
            },
            note="a GET gets the body 'Too Many Requests (HAP429).\\n'; HEAD has none",
            sources=("https://github.com/docker/hub-feedback/issues/1907",),
        ),
        Exchange(
            "HEAD",
            HUB_HELLO_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(HELLO_LIST, DOCKER_MANIFEST_LIST),
            sources=HUB_SOURCES_AUTH,
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="docker.io/library/hello-world",
        digest=_sha(HELLO_LIST),
        media_type=DOCKER_MANIFEST_LIST,
        size=len(HELLO_LIST),
        sleeps=(60.0,),
        note="assumes the Retry-After cap is >= 60 s; with a lower cap the sleep is the cap",
    ),
    behaviours=(
        "honour Retry-After (seconds form) up to a cap, through an injectable clock",
        "a non-JSON 429 body must not break error parsing",
    ),
)

HUB_OCI_URL = f"{HUB}/v2/library/hello-world/manifests/linux"
HUB_SCHEMA1_DIGEST = "sha256:f1a6359df04fcddd5b99b3643125390a363ae2059a5b95992c6718e31ab8ea4b"

DOCKERHUB_ACCEPT_OCI = Scenario(
    name="dockerhub-schema1-when-accept-lacks-oci-index",
    registry="dockerhub",
    summary="For an image published as an OCI index, Docker Hub answers a schema1 prettyjws manifest "
    "(another digest) when the Accept header lacks the OCI index type.",
    sources=(
        "https://github.com/Deepomatic/dmake/pull/548",
        "https://github.com/opencontainers/distribution-spec/issues/207",
    ),
    exchanges=(
        *_hub_auth("HEAD", HUB_OCI_URL),
        Exchange(
            "HEAD",
            HUB_OCI_URL,
            200,
            request_headers_expected={"Authorization": _bearer(HUB_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            violation=Reply(
                200,
                {
                    "content-length": "5522",
                    "content-type": DOCKER_SCHEMA1_SIGNED_MANIFEST,
                    "docker-content-digest": HUB_SCHEMA1_DIGEST,
                    "docker-distribution-api-version": "registry/2.0",
                    "docker-ratelimit-source": "78ffd34a-5c31-4cdb-9281-74f2526563db",
                    "etag": f'"{HUB_SCHEMA1_DIGEST}"',
                    "strict-transport-security": "max-age=31536000",
                },
            ),
            note="the violation reply is verbatim from dmake#548 (an authenticated pull: the "
            "ratelimit source is an account id); the OCI index body is a stand-in",
            sources=("https://github.com/Deepomatic/dmake/pull/548",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="docker.io/library/hello-world:linux",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
    ),
    behaviours=("always send the OCI index and OCI manifest types in Accept",),
)

# --------------------------------------------------------------------------------------------------
# GitHub Container Registry
# --------------------------------------------------------------------------------------------------

GHCR = "https://ghcr.io"
GHCR_TOKEN = "djE6aG9tZWJyZXcvY29yZS93Z2V0OjE2NjU4ODAxMjAzNTI5NjcyODQ="
GHCR_REPO = "homebrew/core/wget"
GHCR_SCOPE = f"repository:{GHCR_REPO}:pull"
GHCR_CHALLENGE = f'Bearer realm="{GHCR}/token",service="ghcr.io",scope="{GHCR_SCOPE}"'
GHCR_MANIFEST_URL = f"{GHCR}/v2/{GHCR_REPO}/manifests/1.24.5"
GHCR_SOURCES = (
    "renovatebot/renovate:lib/modules/datasource/docker/common.ts (comment listing real challenges)",
    "https://github.com/BusKill/buskill-app/issues/78",
    "https://github.com/oras-project/oras-java/issues/178",
    "https://github.com/CodesWhat/drydock/pull/87",
    "https://github.com/tektoncd/plumbing/issues/2340",
)


def _ghcr_auth(method: Method, url: str, basic: str | None = None) -> tuple[Exchange, Exchange]:
    return (
        Exchange(
            method,
            url,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "content-type": "application/json",
                "docker-distribution-api-version": "registry/2.0",
                "www-authenticate": GHCR_CHALLENGE,
            },
            body=b"" if method == "HEAD" else _errors("UNAUTHORIZED", "authentication required"),
            sources=GHCR_SOURCES,
        ),
        Exchange(
            "GET",
            f"{GHCR}/token?scope={GHCR_SCOPE}&service=ghcr.io",
            200,
            request_headers_expected={"Authorization": Exact(basic)} if basic else NO_AUTH,
            response_headers={"content-type": "application/json"},
            body={"token": GHCR_TOKEN},
            assumed=True,
            note="assumed: body is only {'token': 'djE6...'} (no expires_in), as in many captures "
            "without a citable thread",
            sources=GHCR_SOURCES,
        ),
    )


GHCR_ANONYMOUS = Scenario(
    name="ghcr-anonymous-pull-needs-token",
    registry="ghcr",
    summary="Public GHCR images still answer 401 without a token; an anonymous GET of "
    "https://ghcr.io/token gives one. The /v2/ ping carries a placeholder scope.",
    sources=GHCR_SOURCES,
    exchanges=(
        Exchange(
            "GET",
            f"{GHCR}/v2/",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "content-type": "application/json",
                "docker-distribution-api-version": "registry/2.0",
                "www-authenticate": f'Bearer realm="{GHCR}/token",service="ghcr.io",'
                'scope="repository:user/image:pull"',
            },
            body=_errors("UNAUTHORIZED", "authentication required"),
            optional=True,
            note="the ping's scope is a literal placeholder 'repository:user/image:pull'",
            sources=(
                "renovatebot/renovate:lib/modules/datasource/docker/common.ts",
                "https://github.com/BusKill/buskill-app/issues/78",
            ),
        ),
        *_ghcr_auth("HEAD", GHCR_MANIFEST_URL),
        Exchange(
            "HEAD",
            GHCR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN), "Accept": ACCEPT},
            response_headers={
                **_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
                "X-GitHub-Request-Id": "EFB8:1F72:0000000:0000000:00000000",
            },
            note="header set as in containerd#3291 (2020); the index body is a stand-in",
            sources=("https://github.com/containerd/containerd/issues/3291",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"ghcr.io/{GHCR_REPO}:1.24.5",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        requests={"token": 1},
    ),
    behaviours=(
        "anonymous token flow even for public images",
        "take the scope from the repository-level challenge (or compute it), never from the ping",
        "accept a token answer with only 'token' and no expires_in (60 s default)",
    ),
)

GHCR_BLOB_DIGEST = _sha(OCI_CONFIG_BODY)
GHCR_BLOB_URL = f"{GHCR}/v2/{GHCR_REPO}/blobs/{GHCR_BLOB_DIGEST}"
GHCR_SIGNED_URL = (
    f"https://pkg-containers.githubusercontent.com/ghcr1/blobs/{GHCR_BLOB_DIGEST}"
    "?se=2022-12-13T12%3A35%3A00Z&sig=illustrative&sp=r&spr=https&sr=b&sv=2019-12-12"
)

GHCR_BLOB_REDIRECT = Scenario(
    name="ghcr-blob-redirect-to-signed-url",
    registry="ghcr",
    summary="GHCR answers blob GETs with 307 to a short-lived signed URL on "
    "pkg-containers.githubusercontent.com; the storage side refuses HEAD (403).",
    sources=(
        "https://github.com/containerd/stargz-snapshotter/pull/167",
        "https://github.com/BusKill/buskill-app/issues/78",
        "https://github.com/scarf-sh/gateway/pull/35",
    ),
    exchanges=(
        *_ghcr_auth("GET", GHCR_BLOB_URL),
        Exchange(
            "GET",
            GHCR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": GHCR_SIGNED_URL,
            },
            note="307 reported by stargz-snapshotter#167; Location form (ghcr1/blobs/<digest>?se=&"
            "sig=&sp=r&spr=https&sr=b&sv=2019-12-12) as printed by Homebrew; sig is illustrative",
            sources=(
                "https://github.com/containerd/stargz-snapshotter/pull/167",
                "https://github.com/BusKill/buskill-app/issues/78",
            ),
        ),
        Exchange(
            "HEAD",
            GHCR_SIGNED_URL,
            403,
            trap=True,
            assumed=True,
            note="403 on HEAD was reported for GHCR's earlier S3 backend "
            "(github-production-container-registry.s3.amazonaws.com); assumed unchanged",
            sources=("https://github.com/containerd/stargz-snapshotter/pull/167",),
        ),
        Exchange(
            "GET",
            GHCR_SIGNED_URL,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Length": str(len(OCI_CONFIG_BODY))},
            body=OCI_CONFIG_BODY,
            assumed=True,
            note="assumed: 200 headers of the signed URL",
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference=f"ghcr.io/{GHCR_REPO}:1.24.5",
        blob_digest=GHCR_BLOB_DIGEST,
        blob_size=len(OCI_CONFIG_BODY),
        blob_media_type=OCI_CONFIG,
        requests={"token": 1},
    ),
    behaviours=(
        "GET (not HEAD) the redirect target; signed URLs expire within minutes: re-ask the registry "
        "for a fresh redirect on 403 rather than reusing an old Location",
        "no Authorization to pkg-containers.githubusercontent.com",
    ),
)

GHCR_SIGNED_URL_2 = GHCR_SIGNED_URL.replace("sig=illustrative", "sig=illustrative-fresh")
GHCR_STORAGE_403 = Reply(
    403,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request '
    b"has expired</Message></Error>",
)
GHCR_STARGZ = "https://github.com/containerd/stargz-snapshotter/pull/167"

GHCR_HEAD_BLOB_STORAGE_REFUSES_HEAD = Scenario(
    name="ghcr-head-blob-storage-refuses-head",
    registry="ghcr",
    summary="A blob HEAD on ghcr.io is redirected (307) to its storage, which refuses HEAD on a URL "
    "signed for GET (403); the size is then learnt from a GET whose body is not read.",
    sources=(GHCR_STARGZ, "https://github.com/BusKill/buskill-app/issues/78"),
    exchanges=(
        *_ghcr_auth("HEAD", GHCR_BLOB_URL),
        Exchange(
            "HEAD",
            GHCR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": GHCR_SIGNED_URL,
            },
            assumed=True,
            note="stargz-snapshotter#167 (2020) shows a GET answered 307 and a HEAD on the storage "
            "URL answered 403; that a HEAD on ghcr.io is redirected the same way is assumed (Go's "
            "client kept HEAD through the redirect, which is how stargz met the 403)",
            sources=(GHCR_STARGZ,),
        ),
        Exchange(
            "HEAD",
            GHCR_SIGNED_URL,
            403,
            request_headers_expected=NO_AUTH,
            assumed=True,
            note="403 on HEAD reported for GHCR's then S3 backend; assumed for "
            "pkg-containers.githubusercontent.com. A client that does not follow HEAD redirects "
            "may skip it",
            optional=True,
            sources=(GHCR_STARGZ,),
        ),
        Exchange(
            "GET",
            GHCR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": GHCR_SIGNED_URL_2,
            },
            note="the GET fallback stargz-snapshotter adopted ('falling back to GET method when "
            "getting size fails with HEAD')",
            sources=(GHCR_STARGZ,),
        ),
        Exchange(
            "GET",
            GHCR_SIGNED_URL_2,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(OCI_CONFIG_BODY)),
            },
            body=OCI_CONFIG_BODY,
            assumed=True,
            note="assumed: 200 headers of the signed URL (the body need not be read)",
        ),
    ),
    expect=Expect(
        operation="head_blob",
        reference=f"ghcr.io/{GHCR_REPO}:1.24.5",
        blob_digest=GHCR_BLOB_DIGEST,
        blob_size=len(OCI_CONFIG_BODY),
        blob_media_type="application/octet-stream",
        requests={"token": 1},
        note="a 403 from the storage host is not 'access denied' to the blob",
    ),
    behaviours=(
        "a HEAD refused by the host the registry redirected to is asked again with GET",
        "no Authorization to pkg-containers.githubusercontent.com",
    ),
)

GHCR_SIGNED_URL_EXPIRED = Scenario(
    name="ghcr-signed-url-expired-gets-a-fresh-redirect",
    registry="ghcr",
    summary="GHCR's signed blob URLs expire within minutes (403); the client asks ghcr.io again for a "
    "fresh redirect instead of failing or re-using the old URL.",
    sources=(GHCR_STARGZ, "https://github.com/scarf-sh/gateway/pull/35"),
    exchanges=(
        *_ghcr_auth("GET", GHCR_BLOB_URL),
        Exchange(
            "GET",
            GHCR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": GHCR_SIGNED_URL,
            },
            note="307 as in stargz-snapshotter#167",
            sources=(GHCR_STARGZ,),
        ),
        Exchange(
            "GET",
            GHCR_SIGNED_URL,
            403,
            request_headers_expected=NO_AUTH,
            response_headers=GHCR_STORAGE_403.headers,
            body=GHCR_STORAGE_403.body,
            assumed=True,
            note="an expired signed URL answered 403 (stargz-snapshotter#167, S3 backend, ~300 s); "
            "the XML body is S3's usual 'Request has expired' (assumed). GHCR can take >10 s to "
            "hand out signed URLs under load (scarf-sh/gateway#35)",
            sources=(GHCR_STARGZ, "https://github.com/scarf-sh/gateway/pull/35"),
        ),
        Exchange(
            "GET",
            GHCR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN)},
            response_headers={
                "content-type": "application/octet-stream",
                "docker-distribution-api-version": "registry/2.0",
                "location": GHCR_SIGNED_URL_2,
            },
            note="stargz-snapshotter's fix: 're-redirecting and getting fresh backend URL when 403 "
            "is returned during fetching blob data'",
            sources=(GHCR_STARGZ,),
        ),
        Exchange(
            "GET",
            GHCR_SIGNED_URL_2,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Length": str(len(OCI_CONFIG_BODY))},
            body=OCI_CONFIG_BODY,
            assumed=True,
            note="assumed: 200 headers of the signed URL",
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference=f"ghcr.io/{GHCR_REPO}:1.24.5",
        blob_digest=GHCR_BLOB_DIGEST,
        blob_size=len(OCI_CONFIG_BODY),
        blob_media_type=OCI_CONFIG,
        requests={"token": 1},
    ),
    behaviours=("a signed URL refused with 403: ask the registry once more for a fresh one",),
)

GHCR_USER = "octocat"
GHCR_PAT = "ghp_replayFakePersonalAccessToken"

GHCR_CREDENTIALS_FLOW = Scenario(
    name="ghcr-credentials-go-to-the-token-endpoint-only",
    registry="ghcr",
    summary="With a username and PAT, the PAT goes (as Basic) to https://ghcr.io/token only; sent to "
    "the registry itself (Basic, or raw as Bearer) GHCR answers 403 DENIED without a challenge.",
    sources=(
        "https://github.com/renovatebot/renovate/issues/11446",
        "https://github.com/argoproj-labs/argocd-image-updater/issues/303",
        "https://github.com/con/tinuous/pull/232",
    ),
    credentials=(Credentials("ghcr.io", GHCR_USER, GHCR_PAT),),
    exchanges=(
        Exchange(
            "HEAD",
            GHCR_MANIFEST_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "content-type": "application/json",
                "docker-distribution-api-version": "registry/2.0",
                "www-authenticate": GHCR_CHALLENGE,
            },
            violation=Reply(
                403,
                {"content-type": "application/json"},
                _errors("DENIED", "invalid token"),
            ),
            note="violation: credentials sent straight to ghcr.io/v2 get 403 DENIED 'invalid token' "
            "and no WWW-Authenticate",
            sources=(
                "https://github.com/argoproj-labs/argocd-image-updater/issues/303",
                "https://github.com/renovatebot/renovate/issues/11446",
                "https://github.com/con/tinuous/pull/232",
            ),
        ),
        _ghcr_auth("HEAD", GHCR_MANIFEST_URL, basic=_basic(GHCR_USER, GHCR_PAT))[1],
        Exchange(
            "HEAD",
            GHCR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(GHCR_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            sources=("https://github.com/containerd/containerd/issues/3291",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"ghcr.io/{GHCR_REPO}:1.24.5",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        requests={"token": 1},
    ),
    behaviours=(
        "never send stored credentials preemptively to the registry host; wait for the challenge",
        "Basic credentials go to the token realm only",
        "a 403 DENIED without challenge is AccessDenied, not a reason to retry auth",
    ),
)

GHCR_PRIVATE_URL = f"{GHCR}/v2/openai/tunnel-client-runtime/manifests/0.0.14"
GHCR_PRIVATE_SCOPE = "repository:openai/tunnel-client-runtime:pull"

GHCR_PRIVATE_ANONYMOUS = Scenario(
    name="ghcr-private-or-missing-package-anonymous-token-401",
    registry="ghcr",
    summary="For a private (or never published) package the anonymous token request itself answers "
    "401; GHCR does not tell 'private' from 'missing'.",
    sources=("https://github.com/openai/tunnel-client/issues/75",),
    exchanges=(
        Exchange(
            "HEAD",
            GHCR_PRIVATE_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "content-type": "application/json",
                "docker-distribution-api-version": "registry/2.0",
                "www-authenticate": f'Bearer realm="{GHCR}/token",service="ghcr.io",'
                f'scope="{GHCR_PRIVATE_SCOPE}"',
            },
            sources=GHCR_SOURCES,
        ),
        Exchange(
            "GET",
            f"{GHCR}/token?scope={GHCR_PRIVATE_SCOPE}&service=ghcr.io",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={"content-type": "application/json"},
            body=_errors("UNAUTHORIZED", "authentication required"),
            times=None,
            assumed=True,
            note="the 401 status is reported; the body JSON is assumed",
            sources=("https://github.com/openai/tunnel-client/issues/75",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="ghcr.io/openai/tunnel-client-runtime:0.0.14",
        error=AuthenticationError,
        error_mentions=("ghcr.io", "openai/tunnel-client-runtime"),
        note="not NotFound: the registry does not say the package is missing; the message should "
        "suggest credentials (and that the package may not exist)",
    ),
    behaviours=("a 401 from the token endpoint ends the attempt: no retry loop",),
)

# --------------------------------------------------------------------------------------------------
# Quay
# --------------------------------------------------------------------------------------------------

QUAY = "https://quay.io"
QUAY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.quay-replay.signature"
QUAY_SOURCES = (
    "quay/quay:auth/registry_jwt_auth.py (get_auth_headers)",
    "quay/quay:endpoints/v2/__init__.py",
    "quay/quay:endpoints/v2/errors.py",
)
QUAY_PRIVATE_URL = f"{QUAY}/v2/acme/private/manifests/latest"
QUAY_PRIVATE_SCOPE = "repository:acme/private:pull"
QUAY_ROBOT = "acme+ci"
QUAY_ROBOT_TOKEN = "QUAYROBOTREPLAYTOKEN"

QUAY_TOKEN_NO_EXPIRY = Scenario(
    name="quay-private-token-without-expires-in",
    registry="quay",
    summary="Quay challenges with realm https://quay.io/v2/auth and answers the token request with "
    "only {'token': ...}: no expires_in, no issued_at.",
    sources=(*QUAY_SOURCES, "https://github.com/moby/buildkit/issues/2055"),
    credentials=(Credentials("quay.io", QUAY_ROBOT, QUAY_ROBOT_TOKEN),),
    exchanges=(
        Exchange(
            "HEAD",
            QUAY_PRIVATE_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/json",
                "Docker-Distribution-API-Version": "registry/2.0",
                "WWW-Authenticate": f'Bearer realm="{QUAY}/v2/auth",service="quay.io",'
                f'scope="{QUAY_PRIVATE_SCOPE}"',
            },
            note="a GET gets {'errors':[{'code':'UNAUTHORIZED','message':'access to the requested "
            "resource is not authorized','detail':{}}]}",
            sources=QUAY_SOURCES,
        ),
        Exchange(
            "GET",
            f"{QUAY}/v2/auth?scope={QUAY_PRIVATE_SCOPE}&service=quay.io",
            200,
            request_headers_expected={"Authorization": Exact(_basic(QUAY_ROBOT, QUAY_ROBOT_TOKEN))},
            response_headers={"Content-Type": "application/json"},
            body={"token": QUAY_TOKEN},
            sources=("https://github.com/moby/buildkit/issues/2055",),
        ),
        Exchange(
            "HEAD",
            QUAY_PRIVATE_URL,
            200,
            request_headers_expected={"Authorization": _bearer(QUAY_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            assumed=True,
            note="assumed: Quay's 200 manifest headers",
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="quay.io/acme/private",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        requests={"token": 1},
        note="with an injected clock: a second resolve 50 s later reuses the token, 61 s later "
        "fetches a new one (missing expires_in means 60 s, never 'no expiry'; a client may renew "
        "a little early: regimage does so a tenth of the lifetime before, at 54 s)",
    ),
    behaviours=(
        "treat a missing expires_in as 60 s (the token spec default), not 0 and not infinite "
        "(containerd read it as 0 and buildkit then kept the token forever)",
    ),
)

QUAY_PUBLIC_URL = f"{QUAY}/v2/acme/app/manifests/latest"

QUAY_PUBLIC_ANONYMOUS = Scenario(
    name="quay-public-repository-without-token",
    registry="quay",
    summary="Quay serves public repositories to requests without any Authorization (no 401 first), "
    "although its /v2/ ping answers 401 with body 'true'.",
    sources=QUAY_SOURCES,
    exchanges=(
        Exchange(
            "GET",
            f"{QUAY}/v2/",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "text/html; charset=utf-8",
                "Docker-Distribution-API-Version": "registry/2.0",
                "WWW-Authenticate": f'Bearer realm="{QUAY}/v2/auth",service="quay.io"',
                "X-Sparse-Manifest-Support": "false",
            },
            body=b"true",
            optional=True,
            assumed=True,
            note="body 'true' and challenge from v2_support_enabled(); the Content-Type is "
            "Flask's default for make_response (assumed)",
            sources=("quay/quay:endpoints/v2/__init__.py (v2_support_enabled)",),
        ),
        Exchange(
            "HEAD",
            QUAY_PUBLIC_URL,
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            assumed=True,
            note="anonymous access to public repositories is in require_repo_read(allow_public); "
            "the 200 headers are assumed",
            sources=("quay/quay:endpoints/v2/__init__.py (_require_repo_permission)",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="quay.io/acme/app",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        requests={"token": 0},
    ),
    behaviours=(
        "do not require a challenge before a request can succeed; a 401 /v2/ ping says nothing "
        "about a given repository",
    ),
)

QUAY_TAGS_URL = f"{QUAY}/v2/acme/app/tags/list"
QUAY_NEXT_PAGE = "gAAAAABreplayOpaqueEncryptedPageToken"
QUAY_PAGE1 = tuple(f"v1.{i}" for i in range(100))
QUAY_PAGE2 = tuple(f"v2.{i}" for i in range(7))

QUAY_TAGS_PAGED = Scenario(
    name="quay-tags-paged-with-absolute-link",
    registry="quay",
    summary="Quay pages tags/list at 100 and sends an absolute Link with an opaque next_page token: "
    "'<https://quay.io/v2/<repo>/tags/list?n=100&next_page=...>; rel=\"next\"'.",
    sources=("quay/quay:endpoints/v2/__init__.py (paginate)", "quay/quay:endpoints/v2/tag.py"),
    exchanges=(
        Exchange(
            "GET",
            QUAY_TAGS_URL,
            200,
            response_headers={
                "Content-Type": "application/json",
                "Link": f'<{QUAY_TAGS_URL}?n=100&next_page={QUAY_NEXT_PAGE}>; rel="next"',
            },
            body={"name": "acme/app", "tags": list(QUAY_PAGE1)},
            note="Quay ignores a larger n: the page is min(n, 100) (V2_PAGINATION_SIZE, minimum 100); "
            "a client sending ?n=... is matched here too if the harness ignores n on the first page; "
            "the next_page value is an opaque encrypted token (illustrative)",
            sources=("quay/quay:endpoints/v2/__init__.py (paginate)",),
        ),
        Exchange(
            "GET",
            f"{QUAY_TAGS_URL}?n=100&next_page={QUAY_NEXT_PAGE}",
            200,
            response_headers={"Content-Type": "application/json"},
            body={"name": "acme/app", "tags": list(QUAY_PAGE2)},
            sources=("quay/quay:endpoints/v2/tag.py",),
        ),
    ),
    expect=Expect(
        operation="tags",
        reference="quay.io/acme/app",
        tags=QUAY_PAGE1 + QUAY_PAGE2,
        requests={"tags": 2},
    ),
    behaviours=(
        "follow Link rel=next verbatim (keep its query: next_page is opaque, 'last' is not used)",
        "stop when no Link comes back",
    ),
)

# --------------------------------------------------------------------------------------------------
# Amazon ECR
# --------------------------------------------------------------------------------------------------

ECR_HOST = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
ECR = f"https://{ECR_HOST}"
ECR_PASSWORD = "ecr-get-login-password-replay-token"
ECR_BASIC = _basic("AWS", ECR_PASSWORD)
ECR_CHALLENGE = f'Basic realm="{ECR}/",service="ecr.amazonaws.com"'
ECR_MANIFEST_URL = f"{ECR}/v2/my-repo/manifests/latest"
ECR_CREDENTIALS = (
    Credentials(
        ECR_HOST,
        "AWS",
        ECR_PASSWORD,
        via=f'config.json credHelpers {{"{ECR_HOST}": "ecr-login"}} -> docker-credential-ecr-login get',
    ),
)
ECR_401 = {
    "Docker-Distribution-Api-Version": "registry/2.0",
    "Www-Authenticate": ECR_CHALLENGE,
    "Content-Length": "15",
    "Content-Type": "text/plain; charset=utf-8",
}
ECR_AUTH_SOURCES = (
    "https://github.com/NVIDIA/enroot/issues/59",
    "https://github.com/NVIDIA/enroot/issues/143",
    "renovatebot/renovate:lib/modules/datasource/docker/common.ts (comment listing real challenges)",
)
ECR_HELPER_SOURCES = (
    "https://manpages.ubuntu.com/manpages/jammy/man1/docker-credential-ecr-login.1.html",
    "https://github.com/NVIDIA/enroot/pull/159",
)


def _ecr_unauthorized(method: Method, url: str) -> Exchange:
    return Exchange(
        method,
        url,
        401,
        request_headers_expected=NO_AUTH,
        response_headers=ECR_401,
        body=b"" if method == "HEAD" else b"Not Authorized\n",
        note="Basic challenge, text/plain 15-byte body 'Not Authorized\\n'",
        sources=ECR_AUTH_SOURCES,
    )


ECR_BASIC_RESOLVE = Scenario(
    name="ecr-basic-challenge-with-credential-helper",
    registry="ecr",
    summary="ECR challenges with Basic (realm = the registry URL, service=ecr.amazonaws.com) and takes "
    "the credential helper's AWS:<password> as Basic on every request; no token endpoint.",
    sources=(*ECR_AUTH_SOURCES, *ECR_HELPER_SOURCES),
    credentials=ECR_CREDENTIALS,
    exchanges=(
        _ecr_unauthorized("HEAD", ECR_MANIFEST_URL),
        Exchange(
            "HEAD",
            ECR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": Exact(ECR_BASIC), "Accept": ACCEPT},
            response_headers=_manifest_headers(SCHEMA2_BODY, DOCKER_MANIFEST),
            note="ECR sends Docker-Content-Digest on HEAD (not on GET)",
            sources=("https://github.com/ChangemakerStudios/Docker.Registry.DotNet/issues/34",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"{ECR_HOST}/my-repo:latest",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
        requests={"token": 0},
    ),
    behaviours=(
        "credHelpers lookup by host, run docker-credential-ecr-login get (server URL on stdin)",
        "answer a Basic challenge with Basic credentials to the registry itself",
        "a text/plain 401 body must not break error parsing",
    ),
)

ECR_GET_NO_DIGEST = Scenario(
    name="ecr-manifest-get-without-docker-content-digest",
    registry="ecr",
    summary="ECR omits Docker-Content-Digest on manifest GETs; the client verifies the body against "
    "the digest it asked for instead of requiring the header.",
    sources=(
        "https://github.com/aws/containers-roadmap/issues/1931",
        "https://github.com/distribution/distribution/issues/3792",
        "https://github.com/google/containerregistry/pull/10",
        "https://github.com/hashicorp/terraform-provider-docker/pull/188",
        "https://github.com/ChangemakerStudios/Docker.Registry.DotNet/issues/34",
    ),
    credentials=ECR_CREDENTIALS,
    exchanges=(
        _ecr_unauthorized("HEAD", ECR_MANIFEST_URL),
        Exchange(
            "HEAD",
            ECR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": Exact(ECR_BASIC), "Accept": ACCEPT},
            response_headers=_manifest_headers(SCHEMA2_BODY, DOCKER_MANIFEST),
            sources=("https://github.com/ChangemakerStudios/Docker.Registry.DotNet/issues/34",),
        ),
        Exchange(
            "GET",
            f"{ECR}/v2/my-repo/manifests/{_sha(SCHEMA2_BODY)}",
            200,
            request_headers_expected={"Authorization": Exact(ECR_BASIC), "Accept": ACCEPT},
            response_headers={
                "Content-Type": DOCKER_MANIFEST,
                "Content-Length": str(len(SCHEMA2_BODY)),
                "Docker-Distribution-Api-Version": "registry/2.0",
            },
            body=SCHEMA2_BODY,
            sources=(
                "https://github.com/aws/containers-roadmap/issues/1931",
                "https://github.com/hashicorp/terraform-provider-docker/pull/188",
            ),
        ),
    ),
    expect=Expect(
        operation="fetch_manifest",
        reference=f"{ECR_HOST}/my-repo:latest",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
        requests={"token": 0},
    ),
    behaviours=("Docker-Content-Digest is optional: verify the body against the requested digest",),
)

ECR_TAGS_URL = f"{ECR}/v2/my-repo/tags/list"

ECR_TAGS_DENIED = Scenario(
    name="ecr-tag-listing-denied-while-pulls-work",
    registry="ecr",
    summary="Credentials that can pull (ecr:BatchGetImage) but not list (ecr:ListImages) get 403 on "
    "tags/list; skopeo inspect failed on it while skopeo copy worked.",
    sources=(
        "https://github.com/containers/skopeo/issues/726",
        "https://github.com/jetstack/version-checker/issues/122",
        "https://github.com/ivanilves/lstags/issues/222",
    ),
    credentials=ECR_CREDENTIALS,
    exchanges=(
        _ecr_unauthorized("GET", ECR_TAGS_URL),
        Exchange(
            "GET",
            ECR_TAGS_URL,
            403,
            request_headers_expected={"Authorization": Exact(ECR_BASIC)},
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body=_errors("DENIED", "Not Authorized"),
            assumed=True,
            note="403 reported (skopeo#726); body assumed from the public ECR answer "
            "{'errors':[{'code':'DENIED','message':'Not Authorized'}]} (version-checker#122)",
            sources=(
                "https://github.com/containers/skopeo/issues/726",
                "https://github.com/jetstack/version-checker/issues/122",
            ),
        ),
    ),
    expect=Expect(
        operation="tags",
        reference=f"{ECR_HOST}/my-repo",
        error=AccessDenied,
        error_mentions=(ECR_HOST, "my-repo"),
    ),
    behaviours=(
        "403 maps to AccessDenied (not NotFound, not a retry)",
        "inspecting an image must not need tags/list (skopeo inspect did, and failed)",
    ),
)

ECR_BLOB_DIGEST = "sha256:252116da9bb49eba91dbcd7874c20a36eccc432439eaad356c3026d6166a081b"

ECR_HEAD_BLOB = Scenario(
    name="ecr-head-blob-answered-directly",
    registry="ecr",
    summary="HEAD of a config blob on ECR answers 200 itself (no redirect) with Content-Length, the "
    "blob's media type as Content-Type, and Docker-Content-Digest.",
    sources=("https://github.com/argoproj-labs/argocd-image-updater/issues/216",),
    credentials=ECR_CREDENTIALS,
    exchanges=(
        _ecr_unauthorized("HEAD", f"{ECR}/v2/myorg/myapp/blobs/{ECR_BLOB_DIGEST}"),
        Exchange(
            "HEAD",
            f"{ECR}/v2/myorg/myapp/blobs/{ECR_BLOB_DIGEST}",
            200,
            request_headers_expected={"Authorization": Exact(ECR_BASIC)},
            response_headers={
                "Content-Length": "7394",
                "Content-Type": DOCKER_CONFIG,
                "Docker-Content-Digest": ECR_BLOB_DIGEST,
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Date": "Tue, 15 Jun 2021 22:36:36 GMT",
            },
            note="verbatim from the report (curl --head with Basic)",
            sources=("https://github.com/argoproj-labs/argocd-image-updater/issues/216",),
        ),
    ),
    expect=Expect(
        operation="head_blob",
        reference=f"{ECR_HOST}/myorg/myapp:latest",
        blob_digest=ECR_BLOB_DIGEST,
        blob_size=7394,
        blob_media_type=DOCKER_CONFIG,
        requests={"token": 0},
    ),
)

ECR_S3_URL = (
    "https://prod-eu-west-2-starport-layer-bucket.s3.eu-west-2.amazonaws.com/"
    "sha256/illustrative/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=illustrative"
    "&X-Amz-Date=20210615T223636Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=illustrative"
)
S3_AUTH_VIOLATION = Reply(
    400,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>Only one '
    b"auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    b"parameter or the Authorization header should be specified</Message></Error>",
)

ECR_BLOB_S3 = Scenario(
    name="ecr-blob-get-redirect-to-s3",
    registry="ecr",
    summary="ECR blob downloads come from prod-<region>-starport-layer-bucket S3 buckets; an S3 "
    "presigned URL answers 400 when an Authorization header is added.",
    sources=(
        "https://github.com/awsdocs/amazon-ecr-user-guide/issues/24",
        "https://github.com/spring-attic/spring-cloud-dataflow/issues/4065",
    ),
    credentials=ECR_CREDENTIALS,
    exchanges=(
        _ecr_unauthorized("GET", f"{ECR}/v2/my-repo/blobs/{_sha(OCI_CONFIG_BODY)}"),
        Exchange(
            "GET",
            f"{ECR}/v2/my-repo/blobs/{_sha(OCI_CONFIG_BODY)}",
            307,
            request_headers_expected={"Authorization": Exact(ECR_BASIC)},
            response_headers={
                "Location": ECR_S3_URL,
                "Docker-Distribution-Api-Version": "registry/2.0",
            },
            assumed=True,
            note="assumed: status 307 and the object key/query form; the bucket host is documented",
            sources=("https://github.com/awsdocs/amazon-ecr-user-guide/issues/24",),
        ),
        Exchange(
            "GET",
            ECR_S3_URL,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Length": str(len(OCI_CONFIG_BODY))},
            body=OCI_CONFIG_BODY,
            violation=S3_AUTH_VIOLATION,
            assumed=True,
            note="the violation text is S3's (first words reported in spring-cloud-dataflow#4065); "
            "200 headers assumed",
            sources=("https://github.com/spring-attic/spring-cloud-dataflow/issues/4065",),
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference=f"{ECR_HOST}/my-repo:latest",
        blob_digest=_sha(OCI_CONFIG_BODY),
        blob_size=len(OCI_CONFIG_BODY),
        blob_media_type=OCI_CONFIG,
    ),
    behaviours=("Basic credentials are as host-bound as tokens: none to S3",),
)

# --------------------------------------------------------------------------------------------------
# Google Container Registry / Artifact Registry
# --------------------------------------------------------------------------------------------------

GCR = "https://gcr.io"
GCR_SCOPE = "repository:my-project/my-image:pull"
GCR_MANIFEST_URL = f"{GCR}/v2/my-project/my-image/manifests/latest"
GCR_TOKEN = "ya29.gcr-registry-replay-token"
GCR_IDENTITY_TOKEN = "gcr-identity-refresh-replay-token"
GCR_CHALLENGE_HEADERS = {
    "Content-Type": "application/json",
    "Docker-Distribution-Api-Version": "registry/2.0",
    "Server": "Docker Registry",
    "Www-Authenticate": f'Bearer realm="{GCR}/v2/token",service="gcr.io",scope="{GCR_SCOPE}"',
}
GCR_CHALLENGE_SOURCES = (
    "https://github.com/containers/image/pull/211",
    "https://github.com/containerd/containerd/issues/4379",
)

GCR_POST_404 = Scenario(
    name="gcr-oauth-post-404-falls-back-to-get",
    registry="gcr",
    summary="GCR's token endpoint https://gcr.io/v2/token does not implement the OAuth2 POST form "
    "(404); the client falls back to GET with Basic credentials.",
    sources=(
        "containerd/containerd:core/remotes/docker/authorizer.go (doBearerAuth)",
        "https://github.com/containerd/cri/pull/650",
        "https://gist.github.com/fkorotkov/6244b7ec42b8f9b7e41986438fd913e3",
        *GCR_CHALLENGE_SOURCES,
    ),
    credentials=(
        Credentials(
            "gcr.io",
            "<token>",
            GCR_IDENTITY_TOKEN,
            kind="identity_token",
            via="config.json auths['gcr.io'].identitytoken",
        ),
    ),
    exchanges=(
        Exchange(
            "HEAD",
            GCR_MANIFEST_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers=GCR_CHALLENGE_HEADERS,
            assumed=True,
            note="realm/service reported; the repository scope form is assumed (the source's "
            "header was cut after service)",
            sources=GCR_CHALLENGE_SOURCES,
        ),
        Exchange(
            "POST",
            f"{GCR}/v2/token",
            404,
            request_headers_expected={"Content-Type": Present("application/x-www-form-urlencoded")},
            form={
                "grant_type": "refresh_token",
                "service": "gcr.io",
                "scope": GCR_SCOPE,
                "refresh_token": GCR_IDENTITY_TOKEN,
            },
            assumed=True,
            note="404 per containerd ('As of September 2017, GCR is known to return 404'); body assumed "
            "empty",
            sources=("containerd/containerd:core/remotes/docker/authorizer.go (doBearerAuth)",),
        ),
        Exchange(
            "GET",
            f"{GCR}/v2/token?scope={GCR_SCOPE}&service=gcr.io",
            200,
            request_headers_expected={"Authorization": Present("Basic ")},
            response_headers={"Content-Type": "application/json"},
            body={"token": GCR_TOKEN},
            note="containerd's fallback sends the secret as Basic (username may be empty)",
            sources=(
                "containerd/containerd:core/remotes/docker/auth/fetch.go (FetchToken)",
                "https://gist.github.com/fkorotkov/6244b7ec42b8f9b7e41986438fd913e3",
            ),
        ),
        Exchange(
            "HEAD",
            GCR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(GCR_TOKEN), "Accept": ACCEPT},
            response_headers={
                **_manifest_headers(SCHEMA2_BODY, DOCKER_MANIFEST),
                "Server": "Docker Registry",
            },
            note="GCR answers like Distribution (k8s.gcr.io trace in kubernetes/k8s.io#1834)",
            sources=("https://github.com/kubernetes/k8s.io/issues/1834",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="gcr.io/my-project/my-image",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
        requests={"token": 2},
        note="two token requests: the refused POST and the GET",
    ),
    behaviours=(
        "identity token -> POST grant_type=refresh_token; on 404 (GCR), 401 (Artifactory), 400 "
        "(ACR), 405 fall back to GET with Basic",
    ),
)

GCR_JSON_KEY = '{"type": "service_account", "project_id": "my-project", "private_key_id": "replay"}'

GCR_JSON_KEY_GET = Scenario(
    name="gcr-json-key-basic-to-token-endpoint",
    registry="gcr",
    summary="A service-account key is used as password with the username _json_key (access tokens "
    "use oauth2accesstoken); it goes as Basic to the GET token endpoint, which answers {'token'}.",
    sources=(
        "https://gist.github.com/fkorotkov/6244b7ec42b8f9b7e41986438fd913e3",
        "https://github.com/containerd/containerd/issues/1064",
        "https://github.com/containerd/containerd/issues/3333",
        "https://cloud.google.com/artifact-registry/docs/docker/authentication",
    ),
    credentials=(Credentials("gcr.io", "_json_key", GCR_JSON_KEY),),
    exchanges=(
        Exchange(
            "HEAD",
            GCR_MANIFEST_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers=GCR_CHALLENGE_HEADERS,
            assumed=True,
            note="scope form assumed as above",
            sources=GCR_CHALLENGE_SOURCES,
        ),
        Exchange(
            "GET",
            f"{GCR}/v2/token?scope={GCR_SCOPE}&service=gcr.io",
            200,
            request_headers_expected={"Authorization": Exact(_basic("_json_key", GCR_JSON_KEY))},
            response_headers={"Content-Type": "application/json"},
            body={"token": GCR_TOKEN},
            sources=("https://gist.github.com/fkorotkov/6244b7ec42b8f9b7e41986438fd913e3",),
        ),
        Exchange(
            "HEAD",
            GCR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(GCR_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(SCHEMA2_BODY, DOCKER_MANIFEST),
            sources=("https://github.com/kubernetes/k8s.io/issues/1834",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="gcr.io/my-project/my-image:latest",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
        requests={"token": 1},
    ),
    behaviours=(
        "a multi-line JSON password is sent as is inside Basic (no trimming, no secret in logs)",
    ),
)

AR = "https://us-docker.pkg.dev"
AR_REPO = "my-project/my-repo/my-image"
AR_SCOPE = f"repository:{AR_REPO}:pull"
AR_TOKEN = "ya29.artifact-registry-replay-token"
AR_ACCESS_TOKEN = "ya29.gcloud-print-access-token-replay"
AR_SOURCES = (
    "https://github.com/apple/container/issues/2274",
    "https://cloud.google.com/artifact-registry/docs/docker/authentication",
)

AR_PING_WITHOUT_SERVICE = Scenario(
    name="artifact-registry-ping-challenge-without-service",
    registry="artifact-registry",
    summary="Artifact Registry's /v2/ challenge has a realm but no service; repository endpoints "
    "send realm, service and scope. Access tokens go as password with user oauth2accesstoken.",
    sources=AR_SOURCES,
    credentials=(Credentials("us-docker.pkg.dev", "oauth2accesstoken", AR_ACCESS_TOKEN),),
    exchanges=(
        Exchange(
            "GET",
            f"{AR}/v2/",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={"www-authenticate": f'Bearer realm="{AR}/v2/token"'},
            optional=True,
            note="no service parameter at all",
            sources=("https://github.com/apple/container/issues/2274",),
        ),
        Exchange(
            "HEAD",
            f"{AR}/v2/{AR_REPO}/manifests/latest",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "www-authenticate": f'Bearer realm="{AR}/v2/token",service="us-docker.pkg.dev",'
                f'scope="{AR_SCOPE}"'
            },
            sources=("https://github.com/apple/container/issues/2274",),
        ),
        Exchange(
            "GET",
            f"{AR}/v2/token?scope={AR_SCOPE}&service=us-docker.pkg.dev",
            200,
            request_headers_expected={
                "Authorization": Exact(_basic("oauth2accesstoken", AR_ACCESS_TOKEN))
            },
            response_headers={"content-type": "application/json"},
            body={"token": AR_TOKEN},
            assumed=True,
            note="assumed: token body shape (as GCR's)",
            sources=AR_SOURCES,
        ),
        Exchange(
            "HEAD",
            f"{AR}/v2/{AR_REPO}/manifests/latest",
            200,
            request_headers_expected={"Authorization": _bearer(AR_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            assumed=True,
            note="assumed: 200 manifest headers",
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"us-docker.pkg.dev/{AR_REPO}:latest",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        requests={"token": 1},
    ),
    behaviours=(
        "a challenge without service is valid: omit service from the token request, do not fail",
    ),
)

# --------------------------------------------------------------------------------------------------
# Azure Container Registry
# --------------------------------------------------------------------------------------------------

ACR_HOST = "contosoregistry.azurecr.io"
ACR = f"https://{ACR_HOST}"
ACR_SCOPE = "repository:hello-world:pull"
ACR_REALM = f"{ACR}/oauth2/token"
ACR_CHALLENGE = f'Bearer realm="{ACR_REALM}",service="{ACR_HOST}",scope="{ACR_SCOPE}"'
ACR_MANIFEST_URL = f"{ACR}/v2/hello-world/manifests/latest"
ACR_REFRESH = "eyJhbGciOiJSUzI1NiJ9.acr-refresh-replay.L7a"
ACR_ACCESS = "eyJhbGciOiJSUzI1NiJ9.acr-access-replay.xcg"
ACR_NULL_GUID = "00000000-0000-0000-0000-000000000000"
ACR_DOC = "Azure/acr:docs/AAD-OAuth.md"
ACR_401 = {
    "Content-Type": "application/json; charset=utf-8",
    "Docker-Distribution-Api-Version": "registry/2.0",
    "Www-Authenticate": ACR_CHALLENGE,
}

ACR_REFRESH_TOKEN = Scenario(
    name="acr-identity-token-refresh-post",
    registry="acr",
    summary="With the null-GUID username and an ACR refresh token (identity token), the client POSTs "
    "grant_type=refresh_token&service&scope&refresh_token to /oauth2/token and gets "
    "{'access_token'} only (no token, no expires_in).",
    sources=(ACR_DOC, "https://apptainer.org/docs/user/main/cli/apptainer_registry_login.html"),
    credentials=(
        Credentials(
            ACR_HOST,
            ACR_NULL_GUID,
            ACR_REFRESH,
            kind="identity_token",
            via="config.json auths['contosoregistry.azurecr.io'].identitytoken (az acr login)",
        ),
    ),
    exchanges=(
        Exchange(
            "HEAD",
            ACR_MANIFEST_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers=ACR_401,
            assumed=True,
            note="challenge format from the ACR doc (shown there for registry:catalog:*); the "
            "repository scope value is assumed",
            sources=(ACR_DOC,),
        ),
        Exchange(
            "POST",
            ACR_REALM,
            200,
            request_headers_expected={"Content-Type": Present("application/x-www-form-urlencoded")},
            form={
                "grant_type": "refresh_token",
                "service": ACR_HOST,
                "scope": ACR_SCOPE,
                "refresh_token": ACR_REFRESH,
            },
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body={"access_token": ACR_ACCESS},
            sources=(ACR_DOC,),
        ),
        Exchange(
            "HEAD",
            ACR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(ACR_ACCESS), "Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            assumed=True,
            note="assumed: 200 manifest headers",
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"{ACR_HOST}/hello-world",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        requests={"token": 1},
    ),
    behaviours=(
        "identity token (docker config 'identitytoken') -> POST refresh_token grant",
        "accept 'access_token' in place of 'token'; missing expires_in -> 60 s",
    ),
)

ACR_ADMIN_USER = "contosoregistry"
ACR_ADMIN_PASSWORD = "acr-admin-replay-password"

ACR_PASSWORD_POST_400 = Scenario(
    name="acr-password-post-400-get-fallback",
    registry="acr",
    summary="ACR does not support the OAuth2 password grant: a POST of grant_type=password answers "
    "400 (empty body); GET /oauth2/token with Basic answers {'access_token'}.",
    sources=(
        "https://github.com/containerd/nerdctl/issues/737",
        "https://github.com/containerd/containerd/pull/6481",
        "https://github.com/Azure/acr/issues/104",
        "containerd/containerd:core/remotes/docker/authorizer.go (doBearerAuth)",
        ACR_DOC,
    ),
    credentials=(Credentials(ACR_HOST, ACR_ADMIN_USER, ACR_ADMIN_PASSWORD),),
    exchanges=(
        Exchange(
            "GET",
            f"{ACR}/v2/",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/json; charset=utf-8",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Www-Authenticate": f'Bearer realm="{ACR_REALM}",service="{ACR_HOST}"',
            },
            body=_errors(
                "UNAUTHORIZED",
                "authentication required, visit https://aka.ms/acr/authorization for more information.",
            ),
            optional=True,
            assumed=True,
            note="no scope on the ping (nerdctl#737 'no scope specified'); body message as quoted in "
            "go-containerregistry#1255, its JSON form assumed",
            sources=(
                "https://github.com/containerd/nerdctl/issues/737",
                "https://github.com/google/go-containerregistry/issues/1255",
            ),
        ),
        Exchange(
            "HEAD",
            ACR_MANIFEST_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers=ACR_401,
            assumed=True,
            note="repository scope value assumed (format from the ACR doc)",
            sources=(ACR_DOC,),
        ),
        Exchange(
            "POST",
            ACR_REALM,
            400,
            form={
                "grant_type": "password",
                "service": ACR_HOST,
                "username": ACR_ADMIN_USER,
                "password": ACR_ADMIN_PASSWORD,
            },
            optional=True,
            note="a client may try the password grant; ACR answers 400 with an empty body",
            sources=(
                "https://github.com/containerd/nerdctl/issues/737",
                "https://github.com/Azure/acr/issues/104",
            ),
        ),
        Exchange(
            "GET",
            f"{ACR_REALM}?scope={ACR_SCOPE}&service={ACR_HOST}",
            200,
            request_headers_expected={
                "Authorization": Exact(_basic(ACR_ADMIN_USER, ACR_ADMIN_PASSWORD))
            },
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body={"access_token": ACR_ACCESS},
            note="'Catalog listing using Admin Keys with Bearer Auth' in the ACR doc",
            sources=(ACR_DOC,),
        ),
        Exchange(
            "HEAD",
            ACR_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(ACR_ACCESS), "Accept": ACCEPT},
            response_headers=_manifest_headers(OCI_INDEX_BODY, OCI_INDEX),
            assumed=True,
            note="assumed: 200 manifest headers",
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"{ACR_HOST}/hello-world:latest",
        digest=_sha(OCI_INDEX_BODY),
        media_type=OCI_INDEX,
        size=len(OCI_INDEX_BODY),
        note="token count is 1 (GET only) or 2 (POST tried first)",
    ),
    behaviours=(
        "username/password -> GET with Basic (DESIGN.md section 5); if a POST is tried, 400 means "
        "'fall back to GET', not 'bad credentials'",
    ),
)

ACR_BLOB_DIGEST = _sha(OCI_CONFIG_BODY)
ACR_BLOB_URL = f"{ACR}/v2/hello-world/blobs/{ACR_BLOB_DIGEST}"
ACR_STORAGE_URL = (
    f"https://weumanaged15.blob.core.windows.net/illustrative/docker/registry/v2/blobs/sha256/"
    f"{ACR_BLOB_DIGEST[7:9]}/{ACR_BLOB_DIGEST[7:]}/data"
    "?se=2023-10-19T13%3A03%3A46Z&sig=illustrative&sp=r&spr=https&sr=b&sv=2018-03-28&regid=illustrative"
)
AZURE_AUTH_VIOLATION = Reply(
    400,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="utf-8"?>\n<Error><Code>InvalidAuthenticationInfo</Code><Message>'
    b"Authentication information is not given in the correct format. Check the value of "
    b"Authorization header.\nRequestId:00000000-0000-0000-0000-000000000000\n"
    b"Time:2019-01-01T00:00:00.0000000Z</Message></Error>",
)

ACR_BLOB_STORAGE = Scenario(
    name="acr-blob-redirect-to-azure-storage",
    registry="acr",
    summary="ACR answers blob GETs with 307 to a SAS URL on *.blob.core.windows.net (the 307 carries "
    "Docker-Content-Digest); Azure Storage answers 400 InvalidAuthenticationInfo when the "
    "registry's Authorization is forwarded.",
    sources=(
        "https://github.com/Azure/acr/issues/217",
        "Azure/acr:docs/FAQ.md (authentication-information-is-not-given-in-the-correct-format)",
        "https://github.com/spring-attic/spring-cloud-dataflow/issues/4412",
        "https://github.com/MicrosoftDocs/azure-docs/pull/116188",
        "https://github.com/Azure/azure-sdk-for-java/issues/33183",
    ),
    credentials=(Credentials(ACR_HOST, ACR_ADMIN_USER, ACR_ADMIN_PASSWORD),),
    exchanges=(
        Exchange(
            "GET",
            ACR_BLOB_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers=ACR_401,
            body=_errors("UNAUTHORIZED", "authentication required"),
            assumed=True,
            note="scope and body assumed",
            sources=(ACR_DOC,),
        ),
        Exchange(
            "GET",
            f"{ACR_REALM}?scope={ACR_SCOPE}&service={ACR_HOST}",
            200,
            request_headers_expected={
                "Authorization": Exact(_basic(ACR_ADMIN_USER, ACR_ADMIN_PASSWORD))
            },
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body={"access_token": ACR_ACCESS},
            sources=(ACR_DOC,),
        ),
        Exchange(
            "GET",
            ACR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(ACR_ACCESS)},
            response_headers={
                "Content-Type": "application/octet-stream",
                "Docker-Content-Digest": ACR_BLOB_DIGEST,
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Location": ACR_STORAGE_URL,
            },
            note="Location form from MicrosoftDocs/azure-docs#116188 (se/sig/sp/spr/sr/sv/regid; "
            "values illustrative); digest on the 307 per azure-sdk-for-java#33183",
            sources=(
                "https://github.com/MicrosoftDocs/azure-docs/pull/116188",
                "https://github.com/Azure/azure-sdk-for-java/issues/33183",
            ),
        ),
        Exchange(
            "GET",
            ACR_STORAGE_URL,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Length": str(len(OCI_CONFIG_BODY))},
            body=OCI_CONFIG_BODY,
            violation=AZURE_AUTH_VIOLATION,
            note="violation body verbatim from the ACR FAQ; status 400 per spring-cloud-dataflow#4412; "
            "200 headers assumed",
            assumed=True,
            sources=(
                "Azure/acr:docs/FAQ.md",
                "https://github.com/spring-attic/spring-cloud-dataflow/issues/4412",
            ),
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference=f"{ACR_HOST}/hello-world:latest",
        blob_digest=ACR_BLOB_DIGEST,
        blob_size=len(OCI_CONFIG_BODY),
        blob_media_type=OCI_CONFIG,
        requests={"token": 1},
    ),
)

ACR_TAGS_URL = f"{ACR}/v2/hello-world/tags/list"

ACR_TAGS_RELATIVE_LINK = Scenario(
    name="acr-tags-paged-with-relative-link",
    registry="acr",
    summary="ACR pages tags/list only when n is given, and its Link is a relative reference: "
    "'</v2/hello-world/tags/list?last=v1&n=2&orderby=>; rel=\"next\"'.",
    sources=(ACR_DOC,),
    credentials=(Credentials(ACR_HOST, ACR_ADMIN_USER, ACR_ADMIN_PASSWORD),),
    exchanges=(
        Exchange(
            "GET",
            f"{ACR_TAGS_URL}?n=2",
            401,
            request_headers_expected=NO_AUTH,
            response_headers=ACR_401,
            body=_errors("UNAUTHORIZED", "authentication required"),
            assumed=True,
            note="scope and body assumed",
            sources=(ACR_DOC,),
        ),
        Exchange(
            "GET",
            f"{ACR_REALM}?scope={ACR_SCOPE}&service={ACR_HOST}",
            200,
            request_headers_expected={
                "Authorization": Exact(_basic(ACR_ADMIN_USER, ACR_ADMIN_PASSWORD))
            },
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body={"access_token": ACR_ACCESS},
            sources=(ACR_DOC,),
        ),
        Exchange(
            "GET",
            f"{ACR_TAGS_URL}?n=2",
            200,
            request_headers_expected={"Authorization": _bearer(ACR_ACCESS)},
            response_headers={
                "Content-Type": "application/json",
                "Link": '</v2/hello-world/tags/list?last=v1&n=2&orderby=>; rel="next"',
            },
            body={"name": "hello-world", "tags": ["latest", "v1"]},
            sources=(ACR_DOC,),
        ),
        Exchange(
            "GET",
            f"{ACR_TAGS_URL}?last=v1&n=2&orderby=",
            200,
            request_headers_expected={"Authorization": _bearer(ACR_ACCESS)},
            response_headers={"Content-Type": "application/json"},
            body={"name": "hello-world", "tags": ["v2", "v3"]},
            note="the doc shows the first page and the full list (latest, v1, v2, v3); this last "
            "page is derived from the two",
            sources=(ACR_DOC,),
        ),
    ),
    expect=Expect(
        operation="tags",
        reference=f"{ACR_HOST}/hello-world",
        tags=("latest", "v1", "v2", "v3"),
        page_size=2,
        requests={"token": 1},
    ),
    behaviours=(
        "resolve a relative Link against the request URL; keep the empty 'orderby=' parameter",
        "keep the token across pages (same scope)",
    ),
)

# --------------------------------------------------------------------------------------------------
# JFrog Artifactory
# --------------------------------------------------------------------------------------------------

JFROG_HOST = "foo-docker-local.jfrog.io"
JFROG = f"https://{JFROG_HOST}"
JFROG_REALM = f"{JFROG}/foobar/api/docker/docker-local/v2/token"
JFROG_SCOPE = "repository:reponame/imagename:pull"
JFROG_MANIFEST_URL = f"{JFROG}/v2/reponame/imagename/manifests/latest"
JFROG_USER = "username"
JFROG_API_KEY = "artifactory-api-key-replay"
JFROG_TOKEN = "eyJ2ZXIiOiIyIn0.artifactory-replay-token"

ARTIFACTORY_POST_401 = Scenario(
    name="artifactory-post-401-get-fallback-no-scope-on-head",
    registry="artifactory",
    summary="Artifactory answers the OAuth2 POST (credentials in the form, none in a header) with "
    "401, and its challenge to HEAD carries no scope; GET with Basic and a computed scope works.",
    sources=(
        "https://github.com/containerd/containerd/issues/2148",
        "https://github.com/containerd/containerd/pull/2169",
        "https://github.com/containerd/cri/issues/610",
        "https://github.com/containerd/containerd/issues/3556",
        "containerd/containerd:core/remotes/docker/authorizer.go (doBearerAuth)",
    ),
    credentials=(Credentials(JFROG_HOST, JFROG_USER, JFROG_API_KEY),),
    exchanges=(
        Exchange(
            "HEAD",
            JFROG_MANIFEST_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Server": "Artifactory/5.8.4",
                "Content-Type": "application/json;charset=ISO-8859-1",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Www-Authenticate": f'Bearer realm="{JFROG_REALM}",service="{JFROG_HOST}"',
            },
            assumed=True,
            note="no scope on HEAD (containerd#3556); realm/service values from the POST in "
            "containerd/cri#610; Server and Content-Type from containerd#2148; their combination "
            "in one answer is assumed",
            sources=(
                "https://github.com/containerd/containerd/issues/3556",
                "https://github.com/containerd/cri/issues/610",
                "https://github.com/containerd/containerd/issues/2148",
            ),
        ),
        Exchange(
            "POST",
            JFROG_REALM,
            401,
            form={
                "grant_type": "password",
                "service": JFROG_HOST,
                "scope": JFROG_SCOPE,
                "username": JFROG_USER,
                "password": JFROG_API_KEY,
            },
            optional=True,
            assumed=True,
            note="401 reported (containerd#2169); body assumed empty",
            sources=(
                "https://github.com/containerd/containerd/pull/2169",
                "https://github.com/containerd/cri/issues/610",
            ),
        ),
        Exchange(
            "GET",
            f"{JFROG_REALM}?scope={JFROG_SCOPE}&service={JFROG_HOST}",
            200,
            request_headers_expected={"Authorization": Exact(_basic(JFROG_USER, JFROG_API_KEY))},
            response_headers={"Content-Type": "application/json"},
            body={"token": JFROG_TOKEN, "expires_in": 3600},
            assumed=True,
            note="assumed: token body shape",
            sources=("https://github.com/containerd/containerd/pull/2169",),
        ),
        Exchange(
            "HEAD",
            JFROG_MANIFEST_URL,
            200,
            request_headers_expected={"Authorization": _bearer(JFROG_TOKEN), "Accept": ACCEPT},
            response_headers=_manifest_headers(SCHEMA2_BODY, DOCKER_MANIFEST),
            assumed=True,
            note="assumed: 200 manifest headers",
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference=f"{JFROG_HOST}/reponame/imagename:latest",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
    ),
    behaviours=(
        "a challenge without scope: compute repository:<path>:pull from the reference",
        "POST answered 401 -> fall back to GET with Basic (if POST is used at all)",
    ),
)

# --------------------------------------------------------------------------------------------------
# Harbor
# --------------------------------------------------------------------------------------------------

HARBOR_HOST = "harbor.example.com"
HARBOR = f"https://{HARBOR_HOST}"
HARBOR_REALM = f"{HARBOR}/service/token"
HARBOR_CATALOG_CHALLENGE = (
    f'Bearer realm="{HARBOR_REALM}",service="harbor-registry",scope="registry:catalog:*"'
)
HARBOR_USER = "developer"
HARBOR_PASSWORD = "harbor-replay-password"
HARBOR_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.harbor-replay.sig"

HARBOR_CATALOG_SCOPE = Scenario(
    name="harbor-catalog-insufficient-scope",
    registry="harbor",
    summary="Harbor 1.x (Distribution behind a token service) only grants registry:catalog:* to system "
    "admins: a non-admin's token is accepted by the token service but the catalog answers 401 "
    'error="insufficient_scope" again.',
    sources=(
        "https://github.com/goharbor/harbor/issues/7898",
        "https://github.com/goharbor/harbor/issues/3343",
        "https://github.com/goharbor/harbor/issues/714",
        "https://github.com/cesanta/docker_auth/issues/201",
    ),
    credentials=(Credentials(HARBOR_HOST, HARBOR_USER, HARBOR_PASSWORD),),
    exchanges=(
        Exchange(
            "GET",
            f"{HARBOR}/v2/_catalog",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/json; charset=utf-8",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Www-Authenticate": HARBOR_CATALOG_CHALLENGE,
            },
            body=_errors(
                "UNAUTHORIZED",
                "authentication required",
                detail=[{"Type": "registry", "Name": "catalog", "Action": "*"}],
            ),
            sources=(
                "https://github.com/goharbor/harbor/issues/7898",
                "https://github.com/goharbor/harbor/issues/3343",
            ),
        ),
        Exchange(
            "GET",
            f"{HARBOR_REALM}?scope=registry:catalog:*&service=harbor-registry",
            200,
            request_headers_expected={"Authorization": Exact(_basic(HARBOR_USER, HARBOR_PASSWORD))},
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body={"expires_in": 1800, "issued_at": "2019-05-24T10:00:00Z", "token": HARBOR_TOKEN},
            times=2,
            assumed=True,
            note="shape as in harbor#714 (expires_in, issued_at, token); values assumed. Up to two "
            "fetches: one re-authentication on insufficient_scope is allowed",
            sources=("https://github.com/goharbor/harbor/issues/714",),
        ),
        Exchange(
            "GET",
            f"{HARBOR}/v2/_catalog",
            401,
            request_headers_expected={"Authorization": _bearer(HARBOR_TOKEN)},
            response_headers={
                "Content-Type": "application/json; charset=utf-8",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Www-Authenticate": f'{HARBOR_CATALOG_CHALLENGE},error="insufficient_scope"',
            },
            body=_errors(
                "UNAUTHORIZED",
                "authentication required",
                detail=[{"Type": "registry", "Name": "catalog", "Action": "*"}],
            ),
            times=2,
            assumed=True,
            note="'insufficient scope' reported for Harbor 1.8 (harbor#7898); the header is "
            "Distribution's format as seen in cesanta/docker_auth#201 (assumed identical here)",
            sources=(
                "https://github.com/goharbor/harbor/issues/7898",
                "https://github.com/cesanta/docker_auth/issues/201",
            ),
        ),
    ),
    expect=Expect(
        operation="catalog",
        reference=HARBOR_HOST,
        error=AccessDenied,
        error_mentions=(HARBOR_HOST, "catalog"),
        note="stats: token <= 2, catalog <= 2 (one re-authentication, then stop)",
    ),
    behaviours=(
        "insufficient_scope after a fresh token is AccessDenied, not a loop",
        "say that the catalog needs an administrator (Harbor) in the message, if possible",
    ),
)

HARBOR2_CATALOG_BASIC = Scenario(
    name="harbor2-catalog-basic-challenge",
    registry="harbor",
    summary="Harbor 2.x answers /v2/_catalog with a Basic challenge (other /v2/ endpoints are Bearer); "
    "with non-admin Basic credentials it answers 401 'unauthorized to list catalog'.",
    sources=(
        "https://github.com/goharbor/harbor/issues/22118",
        "https://github.com/goharbor/harbor/issues/13573",
    ),
    credentials=(Credentials(HARBOR_HOST, HARBOR_USER, HARBOR_PASSWORD),),
    exchanges=(
        Exchange(
            "GET",
            f"{HARBOR}/v2/_catalog",
            401,
            request_headers_expected=NO_AUTH,
            response_headers={"Www-Authenticate": 'Basic realm="harbor"'},
            body=_errors("UNAUTHORIZED", "unauthorized"),
            assumed=True,
            note="challenge reported (harbor#22118, Harbor 2.12.2); body assumed",
            sources=("https://github.com/goharbor/harbor/issues/22118",),
        ),
        Exchange(
            "GET",
            f"{HARBOR}/v2/_catalog",
            401,
            request_headers_expected={"Authorization": Exact(_basic(HARBOR_USER, HARBOR_PASSWORD))},
            response_headers={
                "Content-Type": "application/json; charset=utf-8",
                "Www-Authenticate": 'Basic realm="harbor"',
            },
            body=_errors(
                "UNAUTHORIZED", "unauthorized to list catalog: unauthorized to list catalog"
            ),
            assumed=True,
            note="message reported (harbor#13573); status/headers assumed",
            sources=("https://github.com/goharbor/harbor/issues/13573",),
        ),
    ),
    expect=Expect(
        operation="catalog",
        reference=HARBOR_HOST,
        error=AuthenticationError,
        error_mentions=(HARBOR_HOST, "unauthorized to list catalog"),
        requests={"token": 0},
    ),
    behaviours=(
        "a Basic challenge on one endpoint and Bearer on others: choose per challenge, not per host",
        "a second 401 after sending credentials ends the attempt",
    ),
)

HARBOR_BLOB_DIGEST = _sha(OCI_CONFIG_BODY)
HARBOR_BLOB_URL = f"{HARBOR}/v2/library/app/blobs/{HARBOR_BLOB_DIGEST}"
HARBOR_S3_URL = (
    f"https://harbor-bucket.s3.amazonaws.com/docker/registry/v2/blobs/sha256/{HARBOR_BLOB_DIGEST[7:9]}/"
    f"{HARBOR_BLOB_DIGEST[7:]}/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=illustrative"
    "&X-Amz-Date=20200727T165044Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=illustrative"
)
HARBOR_SCOPE = "repository:library/app:pull"

HARBOR_BLOB_S3 = Scenario(
    name="harbor-blob-redirect-to-s3",
    registry="harbor",
    summary="Harbor with S3 storage answers blob GETs with 307 to an S3 presigned URL; S3 answers 400 "
    "'Only one auth mechanism allowed' when the Harbor token is forwarded.",
    sources=(
        "https://github.com/spring-attic/spring-cloud-dataflow/issues/4065",
        "https://github.com/containerd/containerd/issues/10374",
    ),
    exchanges=(
        Exchange(
            "GET",
            HARBOR_BLOB_URL,
            401,
            request_headers_expected=NO_AUTH,
            response_headers={
                "Content-Type": "application/json; charset=utf-8",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Www-Authenticate": f'Bearer realm="{HARBOR_REALM}",service="harbor-registry",'
                f'scope="{HARBOR_SCOPE}"',
            },
            body=_errors(
                "UNAUTHORIZED", "unauthorized to access repository: library/app, action: pull"
            ),
            assumed=True,
            note="challenge format as in harbor#714; body assumed",
            sources=("https://github.com/goharbor/harbor/issues/714",),
        ),
        Exchange(
            "GET",
            f"{HARBOR_REALM}?scope={HARBOR_SCOPE}&service=harbor-registry",
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Type": "application/json; charset=utf-8"},
            body={"expires_in": 1800, "issued_at": "2020-07-27T16:50:44Z", "token": HARBOR_TOKEN},
            assumed=True,
            note="anonymous token for a public project; shape as harbor#714",
            sources=("https://github.com/goharbor/harbor/issues/714",),
        ),
        Exchange(
            "GET",
            HARBOR_BLOB_URL,
            307,
            request_headers_expected={"Authorization": _bearer(HARBOR_TOKEN)},
            response_headers={
                "Content-Type": "application/octet-stream",
                "Docker-Distribution-Api-Version": "registry/2.0",
                "Location": HARBOR_S3_URL,
            },
            note="307 to an Amazon signed S3 URL (spring-cloud-dataflow#4065); bucket/query illustrative",
            sources=("https://github.com/spring-attic/spring-cloud-dataflow/issues/4065",),
        ),
        Exchange(
            "GET",
            HARBOR_S3_URL,
            200,
            request_headers_expected=NO_AUTH,
            response_headers={"Content-Length": str(len(OCI_CONFIG_BODY))},
            body=OCI_CONFIG_BODY,
            violation=S3_AUTH_VIOLATION,
            assumed=True,
            note="violation: 400 InvalidArgument 'Only one auth mechanism allowed; ...' (message "
            "completed from S3's standard text); 200 headers assumed",
            sources=("https://github.com/spring-attic/spring-cloud-dataflow/issues/4065",),
        ),
    ),
    expect=Expect(
        operation="fetch_blob",
        reference=f"{HARBOR_HOST}/library/app:latest",
        blob_digest=HARBOR_BLOB_DIGEST,
        blob_size=len(OCI_CONFIG_BODY),
        blob_media_type=OCI_CONFIG,
        requests={"token": 1},
    ),
)

# --------------------------------------------------------------------------------------------------
# Registries with odd Content-Type / no Docker-Content-Digest
# --------------------------------------------------------------------------------------------------

REDHAT = "https://registry.access.redhat.com"

REDHAT_SCHEMA1_TEXT_PLAIN = Scenario(
    name="redhat-schema1-served-as-text-plain-without-digest",
    registry="redhat",
    summary="registry.access.redhat.com served an old schema1 image with Content-Type text/plain and "
    "no Docker-Content-Digest; the client must recognise schema1 from the JSON and say so.",
    sources=(
        "https://github.com/google/go-containerregistry/issues/617",
        "https://github.com/containerd/containerd/issues/3238",
    ),
    exchanges=(
        Exchange(
            "HEAD",
            f"{REDHAT}/v2/rhel7/rhel-atomic/manifests/7.3",
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Type": "text/plain",
                "Content-Length": str(len(SCHEMA1_SIGNED_BODY)),
            },
            assumed=True,
            note="text/plain reported for the manifest (go-containerregistry#617) and the missing "
            "digest header for this host (containerd#3238); the HEAD header set is assumed",
            sources=(
                "https://github.com/google/go-containerregistry/issues/617",
                "https://github.com/containerd/containerd/issues/3238",
            ),
        ),
        Exchange(
            "GET",
            f"{REDHAT}/v2/rhel7/rhel-atomic/manifests/7.3",
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Type": "text/plain",
                "Content-Length": str(len(SCHEMA1_SIGNED_BODY)),
            },
            body=SCHEMA1_SIGNED_BODY,
            note="the body is a stand-in signed schema1 manifest (docker.io/mitr/busybox)",
            sources=("https://github.com/google/go-containerregistry/issues/617",),
        ),
    ),
    expect=Expect(
        operation="fetch_manifest",
        reference="registry.access.redhat.com/rhel7/rhel-atomic:7.3",
        error=UnsupportedMediaType,
        error_mentions=("schema1", "rhel7/rhel-atomic"),
        note="with text/plain the JSON decides (schemaVersion 1, signatures): a 'legacy schema1' "
        "answer, never a digest mismatch or a generic parse error",
    ),
    behaviours=(
        "no Docker-Content-Digest on HEAD: GET by tag and hash the body to resolve",
        "generic Content-Type (text/plain, application/json): detect the document from its JSON",
    ),
)

REDHAT_HEAD_NO_DIGEST = Scenario(
    name="redhat-head-without-docker-content-digest",
    registry="redhat",
    summary="registry.access.redhat.com answers manifest HEADs without Docker-Content-Digest; tools "
    "that need the header fail ('invalid checksum digest format'); the client must GET and hash.",
    sources=(
        "https://github.com/genuinetools/reg/issues/161",
        "https://github.com/crazy-max/diun/issues/550",
        "https://github.com/crazy-max/diun/issues/594",
        "https://github.com/containerd/containerd/issues/3238",
        "https://github.com/quay/quay/pull/1310",
    ),
    exchanges=(
        Exchange(
            "HEAD",
            f"{REDHAT}/v2/rhscl/mysql-57-rhel7/manifests/latest",
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Type": DOCKER_MANIFEST,
                "Content-Length": str(len(SCHEMA2_BODY)),
            },
            assumed=True,
            note="missing digest header reported; the Content-Type and the schema2 body are assumed",
            sources=("https://github.com/genuinetools/reg/issues/161",),
        ),
        Exchange(
            "GET",
            f"{REDHAT}/v2/rhscl/mysql-57-rhel7/manifests/latest",
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Type": DOCKER_MANIFEST,
                "Content-Length": str(len(SCHEMA2_BODY)),
            },
            body=SCHEMA2_BODY,
            assumed=True,
            note="assumed: schema2 body (stand-in)",
            sources=("https://github.com/crazy-max/diun/issues/594",),
        ),
    ),
    expect=Expect(
        operation="resolve",
        reference="registry.access.redhat.com/rhscl/mysql-57-rhel7",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
        requests={"manifest-head": 1, "manifest": 1},
        note="quay#1310: this host honours Accept-Encoding: gzip on blobs; hash decoded bytes",
    ),
    behaviours=("resolve falls back to GET + sha256 when HEAD has no Docker-Content-Digest",),
)

PIERONE = "https://registry.opensource.zalan.do"
PIERONE_URL = f"{PIERONE}/v2/pathfinder/skipper/manifests/v0.9.120"

PIERONE_APPLICATION_JSON = Scenario(
    name="pierone-manifest-served-as-application-json",
    registry="pierone",
    summary="Zalando's Pier One answered manifest requests with Content-Type application/json (and a "
    "Docker-Content-Digest); containerd then saw 'unknown type application/json'.",
    sources=("https://github.com/containerd/cri/issues/787",),
    exchanges=(
        Exchange(
            "HEAD",
            PIERONE_URL,
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Length": str(len(SCHEMA2_BODY)),
                "Content-Type": "application/json",
                "Docker-Content-Digest": _sha(SCHEMA2_BODY),
                "Server": "Jetty(9.2.z-SNAPSHOT)",
                "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            },
            note="header set verbatim except length/digest, which match the stand-in body "
            "(reported: 3069 bytes, sha256:e4b698d2...)",
            sources=("https://github.com/containerd/cri/issues/787",),
        ),
        Exchange(
            "GET",
            f"{PIERONE}/v2/pathfinder/skipper/manifests/{_sha(SCHEMA2_BODY)}",
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Length": str(len(SCHEMA2_BODY)),
                "Content-Type": "application/json",
                "Docker-Content-Digest": _sha(SCHEMA2_BODY),
            },
            body=SCHEMA2_BODY,
            optional=True,
            note="a client may GET by tag instead (next exchange); either way it must learn the "
            "real type from the JSON",
            sources=("https://github.com/containerd/cri/issues/787",),
        ),
        Exchange(
            "GET",
            PIERONE_URL,
            200,
            request_headers_expected={"Accept": ACCEPT},
            response_headers={
                "Content-Length": str(len(SCHEMA2_BODY)),
                "Content-Type": "application/json",
                "Docker-Content-Digest": _sha(SCHEMA2_BODY),
            },
            body=SCHEMA2_BODY,
            optional=True,
            note="the by-tag alternative to the exchange above (one of the two is made; the "
            "expected digest and media type can only come from the body). Added 2026 for issue "
            "#9: the data named only the by-digest GET although its note allowed this one",
            sources=("https://github.com/containerd/cri/issues/787",),
        ),
    ),
    expect=Expect(
        operation="fetch_manifest",
        reference="registry.opensource.zalan.do/pathfinder/skipper:v0.9.120",
        digest=_sha(SCHEMA2_BODY),
        media_type=DOCKER_MANIFEST,
        size=len(SCHEMA2_BODY),
        note="the descriptor the walker uses must carry the JSON's mediaType, not application/json",
    ),
    behaviours=(
        "generic Content-Type on a manifest: take the media type from the document's mediaType "
        "(or its shape), and use that for the descriptor",
    ),
)

# --------------------------------------------------------------------------------------------------
# The collection, and the checks run at import
# --------------------------------------------------------------------------------------------------

SCENARIOS: tuple[Scenario, ...] = (
    DOCKERHUB_RESOLVE,
    DOCKERHUB_BLOB_CDN,
    DOCKERHUB_BLOB_R2,
    DOCKERHUB_PULL_LIMIT,
    DOCKERHUB_ABUSE_LIMIT,
    DOCKERHUB_ACCEPT_OCI,
    GHCR_ANONYMOUS,
    GHCR_BLOB_REDIRECT,
    GHCR_HEAD_BLOB_STORAGE_REFUSES_HEAD,
    GHCR_SIGNED_URL_EXPIRED,
    GHCR_CREDENTIALS_FLOW,
    GHCR_PRIVATE_ANONYMOUS,
    QUAY_TOKEN_NO_EXPIRY,
    QUAY_PUBLIC_ANONYMOUS,
    QUAY_TAGS_PAGED,
    ECR_BASIC_RESOLVE,
    ECR_GET_NO_DIGEST,
    ECR_TAGS_DENIED,
    ECR_HEAD_BLOB,
    ECR_BLOB_S3,
    GCR_POST_404,
    GCR_JSON_KEY_GET,
    AR_PING_WITHOUT_SERVICE,
    ACR_REFRESH_TOKEN,
    ACR_PASSWORD_POST_400,
    ACR_BLOB_STORAGE,
    ACR_TAGS_RELATIVE_LINK,
    ARTIFACTORY_POST_401,
    HARBOR_CATALOG_SCOPE,
    HARBOR2_CATALOG_BASIC,
    HARBOR_BLOB_S3,
    REDHAT_SCHEMA1_TEXT_PLAIN,
    REDHAT_HEAD_NO_DIGEST,
    PIERONE_APPLICATION_JSON,
)


def by_name(name: str) -> Scenario:
    """The scenario called ``name`` (KeyError naming it if there is none)."""
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no replay scenario named {name!r}")


def _problems(scenario: Scenario) -> list[str]:
    where = scenario.name
    found: list[str] = []
    if not scenario.sources:
        found.append(f"{where}: no sources")
    for index, exchange in enumerate(scenario.exchanges):
        at = f"{where}: exchanges[{index}] {exchange.method} {exchange.url}"
        parts = urlsplit(exchange.url)
        if parts.scheme != "https" or not parts.hostname:
            found.append(f"{at}: not an https URL")
        if exchange.trap and exchange.optional:
            found.append(f"{at}: a trap cannot be optional")
        if exchange.assumed and not exchange.note:
            found.append(f"{at}: assumed without a note saying what is assumed")
        if exchange.form is not None and exchange.method != "POST":
            found.append(f"{at}: form on a non-POST")
        if exchange.times is not None and exchange.times < 1:
            found.append(f"{at}: times must be >= 1 or None")
        headers = {name.lower(): value for name, value in exchange.response_headers.items()}
        if len(headers) != len(exchange.response_headers):
            found.append(f"{at}: a response header appears twice (case-insensitively)")
        if 300 <= exchange.status < 400 and "location" not in headers:
            found.append(f"{at}: redirect without Location")
        if isinstance(exchange.body, bytes) and exchange.body:
            if exchange.method == "HEAD":
                found.append(f"{at}: HEAD with a body")
            declared = headers.get("docker-content-digest")
            if declared is not None and declared != _sha(exchange.body):
                found.append(f"{at}: Docker-Content-Digest does not match the body")
            length = headers.get("content-length")
            if length is not None and length != str(len(exchange.body)):
                found.append(f"{at}: Content-Length does not match the body")
        elif not isinstance(exchange.body, bytes):
            json.dumps(exchange.body)  # must serialise
    expect = scenario.expect
    if (expect.error is None) == (
        expect.digest is None and expect.tags is None and expect.blob_digest is None
    ):
        found.append(f"{where}: expect must give exactly one of an answer or an error")
    if expect.digest is not None:
        answered = {
            value
            for e in scenario.exchanges
            if e.status == 200 and not e.trap
            for name, value in e.response_headers.items()
            if name.lower() == "docker-content-digest"
        } | {
            _sha(e.body)
            for e in scenario.exchanges
            if e.status == 200 and not e.trap and isinstance(e.body, bytes) and e.body
        }
        if expect.digest not in answered:
            found.append(f"{where}: no 200 answer carries or hashes to expect.digest")
    if expect.operation == "fetch_blob" and expect.blob_digest is not None:
        served = [
            e.body
            for e in scenario.exchanges
            if e.method == "GET" and e.status == 200 and isinstance(e.body, bytes) and e.body
        ]
        if not served or _sha(served[-1]) != expect.blob_digest:
            found.append(f"{where}: the last blob body does not hash to expect.blob_digest")
    return found


def _check(scenarios: tuple[Scenario, ...]) -> None:
    names = [scenario.name for scenario in scenarios]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    found = [f"duplicate scenario names: {duplicates}"] if duplicates else []
    for scenario in scenarios:
        found.extend(_problems(scenario))
    if found:
        raise ValueError("inconsistent replay scenarios:\n" + "\n".join(found))


_check(SCENARIOS)
