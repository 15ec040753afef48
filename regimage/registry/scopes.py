"""Token scopes: which repository a registry API request is about, and the scope it needs.

Registries that answer with a Bearer challenge grant access per scope
(``repository:<name>:pull``, ``registry:catalog:*``): the auth flow asks for the scope of each
request before the registry names it, and batches group scopes by repository.
"""

from __future__ import annotations

__all__ = ["CATALOG_SCOPE", "scope_repository", "scopes_for_path"]

#: The scope of the catalog (``/v2/_catalog``).
CATALOG_SCOPE = "registry:catalog:*"
#: The operations whose URLs carry a repository name: /v2/<name>/<endpoint>/<reference>.
_REPOSITORY_ENDPOINTS = frozenset({"manifests", "blobs", "referrers"})


def scopes_for_path(path: str) -> tuple[str, tuple[str, ...]]:
    """The repository a registry API path is about, and the pull scope it needs.

    ``/v2/library/ubuntu/manifests/latest`` → ``("library/ubuntu",
    ("repository:library/ubuntu:pull",))``; ``/v2/_catalog`` → ``("", ("registry:catalog:*",))``;
    anything else (``/v2/``) → ``("", ())``.
    """
    if not path.startswith("/v2/"):
        return "", ()
    rest = path[4:]
    if rest == "_catalog":
        return "", (CATALOG_SCOPE,)
    parts = rest.split("/")
    name = ""
    if len(parts) >= 3 and (parts[-2] in _REPOSITORY_ENDPOINTS or parts[-2:] == ["tags", "list"]):
        name = "/".join(parts[:-2])
    if not name:
        return "", ()
    return name, (f"repository:{name}:pull",)


def scope_repository(scope: str) -> str:
    """``repository:ns/name:pull`` → ``ns/name``; other scopes → ``""``."""
    kind, _, rest = scope.partition(":")
    if kind != "repository":
        return ""
    return rest.rpartition(":")[0]
