"""An HTTP status as a regimage error: what a registry's or a token server's refusal means.

:func:`raise_for_status` and :func:`raise_for_token_status` read the error body (bounded) and
raise the :mod:`regimage.errors` class of the answer, with a message that names what was asked
for, where, and what to do next; for a 429, which budget ran out (``Retry-After``, the registry's
stated rate limit) and what helps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import NoReturn

import httpx

from regimage.errors import (
    AccessDenied,
    AuthenticationError,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryErrorDetail,
)
from regimage.http.error_body import read_error_body
from regimage.http.extensions import (
    ATTEMPTS,
    CREDENTIALS_SENT,
    CREDENTIALS_WITHHELD,
    RATE_LIMIT,
)
from regimage.http.redaction import host_of, redact_url
from regimage.model.ratelimit import RateLimit, format_duration, registry_display_name

__all__ = [
    "LOGIN_HINT",
    "parse_retry_after_seconds",
    "raise_for_status",
    "raise_for_token_status",
]

LOGIN_HINT = "log in with --username/--password-stdin or a docker config.json"
#: How many registry error entries a message quotes (the rest are kept on the exception).
_QUOTED_ERRORS = 3


def _codes(errors: tuple[RegistryErrorDetail, ...]) -> set[str]:
    return {e.code.upper() for e in errors if e.code}


def _quote(errors: tuple[RegistryErrorDetail, ...]) -> str:
    if not errors:
        return ""
    shown = "; ".join(str(e) for e in errors[:_QUOTED_ERRORS] if str(e))
    more = len(errors) - _QUOTED_ERRORS
    if more > 0:
        shown += f"; and {more} more"
    return f": {shown}" if shown else ""


def parse_retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _bearer_error(response: httpx.Response) -> str | None:
    """The ``error`` parameter of a Bearer challenge (``insufficient_scope``…), if any."""
    for header in response.headers.get_list("www-authenticate"):
        lowered = header.lower()
        if "insufficient_scope" in lowered:
            return "insufficient_scope"
        if "invalid_token" in lowered:
            return "invalid_token"
    return None


async def raise_for_status(
    response: httpx.Response,
    *,
    subject: str,
    repository: str,
    reference: str | None = None,
) -> None:
    """Return for a 2xx answer; otherwise read the error body (bounded) and raise its class.

    ``subject`` names what was asked for (``tag 'latest'``, ``blob sha256:…``), ``repository``
    where (``docker.io/library/ubuntu``); both go into the message.
    """
    if response.is_success:
        return
    errors = await read_error_body(response)
    _raise_status(response, errors, subject=subject, repository=repository, reference=reference)


def _raise_status(
    response: httpx.Response,
    errors: tuple[RegistryErrorDetail, ...],
    *,
    subject: str,
    repository: str,
    reference: str | None,
) -> NoReturn:
    status = response.status_code
    url = redact_url(response.request.url)
    host = host_of(response.request.url)
    codes = _codes(errors)
    quoted = _quote(errors)
    attempts = response.extensions.get(ATTEMPTS)
    after = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
    if status == 404:
        what = f"repository {repository}" if "NAME_UNKNOWN" in codes else None
        message = f"{what} not found" if what else f"{subject} not found in {repository}"
        raise NotFound(message, status=status, errors=errors, url=url, reference=reference)
    redirected_from = _redirected_from(response)
    if redirected_from is not None and status in (400, 401, 403):
        # A storage host (S3, Azure Blob, a CDN) refusing a signed URL the registry handed out.
        cls = RegistryError if status == 400 else AccessDenied
        raise cls(
            f"{host}, where {redirected_from} redirected the download of {subject} of "
            f"{repository}, refused it (HTTP {status}){quoted}; a signed URL may have expired, "
            "try again",
            status=status,
            errors=errors,
            url=url,
            reference=reference,
        )
    if status == 401:
        sent = bool(response.extensions.get(CREDENTIALS_SENT))
        scope_error = _bearer_error(response) == "insufficient_scope" or "DENIED" in codes
        if sent and scope_error:
            raise AccessDenied(
                f"the credentials for {host} were accepted but do not allow "
                f"{_action(subject, repository)}{quoted}{_not_found_hint(subject)}",
                status=status,
                errors=errors,
                url=url,
                reference=reference,
            )
        if _bearer_error(response) == "invalid_token":
            # The token server issued this token (so it took the credentials, if any) and the
            # registry refused it at once: clock skew, or a token server it does not trust.
            message = (
                f"the registry {host} refused the token its token server issued for "
                f"{repository} (invalid_token: expired on arrival or not trusted){quoted}; "
                "check the clocks of the registry and its token server, and that they agree on "
                "the service, issuer and signing certificate"
            )
        elif sent:
            message = (
                f"the registry {host} refused the credentials sent for {repository}{quoted}; "
                f"check the username and password ({LOGIN_HINT})"
            )
        elif response.extensions.get(CREDENTIALS_WITHHELD):
            message = (
                f"authentication required for {repository}{quoted}; the credentials for {host} "
                "were not sent: they go over plain HTTP to loopback registries only; reach "
                f"{host} over HTTPS (without --plain-http)"
            )
        elif subject == "catalog":
            message = (
                f"{host} refused to list its catalog{quoted}: it needs credentials, and none were "
                f"found for {host}{_not_found_hint(subject)}; {LOGIN_HINT}"
            )
        elif scope_error:
            message = (
                f"access to {repository} denied{quoted}: the repository does not exist or needs "
                f"credentials, and none were found for {host}; {LOGIN_HINT}"
            )
        else:
            message = (
                f"authentication required for {repository}{quoted}; no credentials were found "
                f"for {host}: {LOGIN_HINT}"
            )
        raise AuthenticationError(
            message, status=status, errors=errors, url=url, reference=reference
        )
    if status == 403 or "DENIED" in codes:
        denied = "listing the catalog" if subject == "catalog" else f"access to {subject} in"
        hint = _not_found_hint(subject) if subject == "catalog" else ""
        raise AccessDenied(
            f"{denied} {repository} denied (HTTP {status}){quoted}{hint}",
            status=status,
            errors=errors,
            url=url,
            reference=reference,
        )
    if status == 429:
        retry_after = parse_retry_after_seconds(response.headers.get("retry-after"), time.time())
        raise RateLimited(
            _rate_limited_message(
                response,
                codes,
                subject=subject,
                repository=repository,
                quoted=quoted,
                retry_after=retry_after,
            ),
            retry_after=retry_after,
            errors=errors,
            url=url,
            reference=reference,
        )
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    raise RegistryError(
        f"{host} answered HTTP {status}{reason}{after} for {subject} in {repository}{quoted}",
        status=status,
        errors=errors,
        url=url,
        reference=reference,
    )


def _redirected_from(response: httpx.Response) -> str | None:
    """The registry host that redirected to the host that gave this answer, if another one."""
    if not response.history:
        return None
    origin = host_of(response.history[0].request.url)
    return origin if origin != host_of(response.request.url) else None


def _action(subject: str, repository: str) -> str:
    """What a refused request was for, as a verb phrase: ``pulling <repo>``, ``listing…``."""
    if subject == "catalog":
        return f"listing the catalog of {repository}"
    if subject == "tags list":
        return f"listing the tags of {repository}"
    return f"pulling {repository}"


def _not_found_hint(subject: str) -> str:
    if subject == "catalog":
        return " (registries such as Harbor let only administrators list the catalog)"
    return " (or it does not exist)"


def _rate_limited_message(
    response: httpx.Response,
    codes: set[str],
    *,
    subject: str,
    repository: str,
    quoted: str,
    retry_after: float | None,
) -> str:
    """Say which budget ran out and what helps: ``Docker Hub rate limit reached: 0 of 100 pulls
    left in the 6 h window; log in … to raise it (fetching …: HTTP 429 …)``."""
    host = host_of(response.request.url)
    attempts = response.extensions.get(ATTEMPTS)
    after = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
    budget = response.extensions.get(RATE_LIMIT)
    budget = budget if isinstance(budget, RateLimit) else None
    asking = f"fetching {subject} from {repository} (HTTP 429{after}){quoted}"
    if (budget is None or not budget.exhausted) and "TOOMANYREQUESTS" not in codes:
        # A request-rate limit (Docker Hub's anti-abuse 429, a proxy): not the pull budget.
        hint = f"; the registry asks to wait {retry_after:g} s" if retry_after is not None else ""
        known = f"; {budget}" if budget is not None else ""
        return f"rate limited by {host} {asking}{hint}{known}"
    head = f"{registry_display_name(host)} rate limit reached"
    if budget is not None:
        head += f": {budget.summary()}"
    if (budget is None or budget.reset is None) and retry_after is not None:
        head += f", resets in {format_duration(retry_after)}"
    if response.extensions.get(CREDENTIALS_SENT):
        advice = "; the budget of these credentials is used up until the window resets"
    else:
        advice = f"; {LOGIN_HINT} to raise it"
    return f"{head}{advice}; {asking}"


async def raise_for_token_status(
    response: httpx.Response,
    *,
    host: str,
    credentials_sent: bool,
    scopes: Sequence[str] = (),
) -> None:
    """Return for a 2xx token answer; otherwise raise what the token server's refusal means.

    ``scopes`` are the scopes asked for: the message names the repositories they are about.
    """
    if response.is_success:
        return
    errors = await read_error_body(response)
    status = response.status_code
    realm = redact_url(response.request.url.copy_with(query=None))
    url = redact_url(response.request.url)
    quoted = _quote(errors)
    wanted = _scopes_text(scopes)
    if status in (401, 403):
        if credentials_sent:
            message = (
                f"the token server {realm} refused the credentials for {host} asking for "
                f"{wanted} (HTTP {status}){quoted}; check the username and password, and that "
                f"they may pull it ({LOGIN_HINT})"
            )
        else:
            message = (
                f"the token server {realm} refused an anonymous token for {wanted} on {host} "
                f"(HTTP {status}){quoted}; it may be private or may not exist: {LOGIN_HINT}"
            )
        raise AuthenticationError(message, status=status, errors=errors, url=url)
    if status == 429:
        retry_after = parse_retry_after_seconds(response.headers.get("retry-after"), time.time())
        raise RateLimited(
            f"rate limited by the token server {realm} for {host} (HTTP 429){quoted}",
            retry_after=retry_after,
            errors=errors,
            url=url,
        )
    raise RegistryError(
        f"the token server {realm} for {host} answered HTTP {status} asking for {wanted}{quoted}",
        status=status,
        errors=errors,
        url=url,
    )


def _scopes_text(scopes: Sequence[str]) -> str:
    """``pull access to library/ubuntu``, ``pull access to 3 repositories (a, b, …)``, ``the
    catalog``: what a token request asked for, in words."""
    repositories: list[str] = []
    catalog = False
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        if kind == "repository" and rest:
            repositories.append(rest.rpartition(":")[0] or rest)
        elif kind == "registry" and rest.startswith("catalog"):
            catalog = True
    parts: list[str] = []
    if len(repositories) == 1:
        parts.append(f"pull access to {repositories[0]}")
    elif repositories:
        shown = ", ".join(repositories[:2]) + (", …" if len(repositories) > 2 else "")
        parts.append(f"pull access to {len(repositories)} repositories ({shown})")
    if catalog:
        parts.append("the catalog")
    return " and ".join(parts) or "a token"
