"""Reading the mirror configuration users already have: registries.conf and containerd's hosts.toml.

Where, as Podman (containers/image) and containerd look:

- registries.conf: ``$CONTAINERS_REGISTRIES_CONF`` when set; else
  ``$HOME/.config/containers/registries.conf`` when it exists; else
  ``/etc/containers/registries.conf``. Then the drop-ins, ``*.conf`` in name order: those of
  ``/etc/containers/registries.conf.d`` and then ``$HOME/.config/containers/registries.conf.d``,
  only the latter when the user's own registries.conf is the one read.
- hosts.toml: ``/etc/containerd/certs.d/<registry>/hosts.toml`` (containerd's usual
  ``config_path``), one directory per registry (see :mod:`regimage.registry.hosts_toml`).

Paths are taken under ``root`` (``/`` by default; tests give a temporary directory) and
``$HOME`` from ``environ``. A missing file or directory is skipped (an explicit
``$CONTAINERS_REGISTRIES_CONF`` must exist); one that cannot be read or parsed is an
:class:`InvalidConfiguration` naming it: a configuration misread would send requests where the
user did not want them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from regimage.errors import InvalidConfiguration
from regimage.registry.hosts_toml import HostsFile
from regimage.registry.mirrors import Mirror, Mirrors
from regimage.registry.registries_conf import RegistriesConf

__all__ = [
    "HOSTS_DIRECTORIES",
    "REGISTRIES_CONF_ENV",
    "load_mirrors",
    "read_hosts_directories",
    "read_registries_conf",
]

#: The variable Podman, Buildah and Skopeo take registries.conf's path from.
REGISTRIES_CONF_ENV = "CONTAINERS_REGISTRIES_CONF"
_SYSTEM_FILE = "etc/containers/registries.conf"
_SYSTEM_DROP_INS = "etc/containers/registries.conf.d"
_USER_FILE = ".config/containers/registries.conf"
_USER_DROP_INS = ".config/containers/registries.conf.d"
#: containerd's host directories, under ``root``.
HOSTS_DIRECTORIES = ("etc/containerd/certs.d",)


def load_mirrors(
    mirrors: Iterable[Mirror | str] = (),
    *,
    files: bool = True,
    environ: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] = "/",
    hosts_directories: Iterable[str | os.PathLike[str]] | None = None,
) -> Mirrors:
    """The mirror configuration: ``mirrors`` (``Mirror`` values or ``REGISTRY=MIRROR`` texts,
    tried first), then, unless ``files`` is False, registries.conf and the hosts.toml files."""
    named = tuple(m if isinstance(m, Mirror) else Mirror.parse(m) for m in mirrors)
    if not files:
        return Mirrors(named)
    environ = os.environ if environ is None else environ
    base = Path(root)
    directories = (
        [base / d for d in HOSTS_DIRECTORIES]
        if hosts_directories is None
        else [Path(d) for d in hosts_directories]
    )
    return Mirrors(
        named,
        read_registries_conf(environ=environ, root=base),
        read_hosts_directories(directories),
    )


def read_registries_conf(
    *, environ: Mapping[str, str], root: str | os.PathLike[str] = "/"
) -> RegistriesConf:
    """registries.conf and its drop-ins, merged (see the module's docstring for where)."""
    base = Path(root)
    home = environ.get("HOME")
    user_file = Path(home) / _USER_FILE if home else None
    user_drop_ins = Path(home) / _USER_DROP_INS if home else None
    explicit = environ.get(REGISTRIES_CONF_ENV)
    drop_in_directories: list[Path | None] = [base / _SYSTEM_DROP_INS, user_drop_ins]
    if explicit:
        main, required = Path(explicit), True
    elif user_file is not None and user_file.exists():
        main, required = user_file, False
        drop_in_directories = [user_drop_ins]
    else:
        main, required = base / _SYSTEM_FILE, False
    text = _read(main, required=required)
    conf = RegistriesConf() if text is None else RegistriesConf.parse(text, origin=str(main))
    for directory in drop_in_directories:
        for path in _drop_ins(directory):
            text = _read(path, required=False)
            if text is not None:
                conf = conf.merged(RegistriesConf.parse(text, origin=str(path), drop_in=True))
    return conf


def read_hosts_directories(
    directories: Iterable[str | os.PathLike[str]],
) -> tuple[HostsFile, ...]:
    """Every registry directory's hosts (a directory earlier in ``directories`` wins)."""
    found: dict[str, HostsFile] = {}
    for directory in directories:
        for entry in _listing(Path(directory)):
            if entry.name in found or not entry.is_dir():
                continue
            hosts_file = _read_hosts_directory(entry)
            if hosts_file is not None:
                found[entry.name] = hosts_file
    return tuple(found.values())


def _read_hosts_directory(directory: Path) -> HostsFile | None:
    path = directory / "hosts.toml"
    text = _read(path, required=False)
    if text:
        return HostsFile.parse(
            text, namespace=directory.name, directory=str(directory), origin=str(path)
        )
    names = [p.name for p in _listing(directory) if p.suffix in (".crt", ".cert", ".key")]
    if not names:
        return None
    return HostsFile.from_certificates(names, namespace=directory.name, directory=str(directory))


def _drop_ins(directory: Path | None) -> list[Path]:
    if directory is None:
        return []
    return [p for p in _listing(directory) if p.name.endswith(".conf") and not p.is_dir()]


def _listing(directory: Path) -> list[Path]:
    """The entries of ``directory`` in name order; none when it does not exist."""
    try:
        return sorted(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise InvalidConfiguration(
            f"cannot read {directory}: {exc.strerror or exc}", path=str(directory)
        ) from exc


def _read(path: Path, *, required: bool) -> str | None:
    """A file's text; None when it does not exist (unless ``required``)."""
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        if not required:
            return None
        raise InvalidConfiguration(
            f"{path} does not exist (${REGISTRIES_CONF_ENV} names it)", path=str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InvalidConfiguration(f"cannot read {path}: {reason}", path=str(path)) from exc
