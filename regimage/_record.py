"""Records: slotted dataclasses that cost little to define.

``@dataclass(frozen=True, slots=True)`` writes out and compiles the source of six to eight methods
for every class it decorates: close to 1 ms a class, and ``regimage size`` defines about thirty
(68 M of a warm ``size``'s 655 M instructions, counted with callgrind).
:func:`record` asks :mod:`dataclasses` only for what is cheap to make (the fields, the slots,
``__match_args__``) and gives every record the same plain functions for the rest, each reading
its class's field table. A record is still a dataclass (``dataclasses.fields``, ``replace``,
``asdict`` work on it), and type checkers see :func:`dataclasses.dataclass` itself: ``record``
is that name while type checking.

Differences a user can notice: ``__dataclass_params__`` reports ``init``, ``eq`` and ``frozen`` as
false (the methods are ours), and until a class has made :data:`SPECIALIZE_AFTER` instances its
``__init__`` takes ``*args, **kwargs`` (``inspect.signature`` of the class gives the fields).
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import TYPE_CHECKING, Any

__all__ = ["record"]

_MISSING: Any = dataclasses.MISSING
_set = object.__setattr__


class _Layout:
    """What the shared methods need to know about one record class, worked out once."""

    __slots__ = (
        "calls",
        "cls",
        "compare",
        "count",
        "fields",
        "hashed",
        "name",
        "names",
        "params",
        "post_init",
    )

    def __init__(self, cls: type) -> None:
        fields = dataclasses.fields(cls)
        for f in fields:
            if not f.init or f.kw_only is True:
                raise TypeError(f"record {cls.__qualname__}: field {f.name!r} must be init-only")
        self.cls = cls
        self.calls = 0
        self.name = cls.__qualname__
        self.fields = fields
        self.names = tuple(f.name for f in fields)
        self.count = len(fields)
        self.params: tuple[tuple[str, Any, Any], ...] = tuple(
            (f.name, f.default, None if f.default_factory is _MISSING else f.default_factory)
            for f in fields
        )
        self.compare = _getter([f.name for f in fields if f.compare])
        self.hashed = _getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)])
        self.post_init = hasattr(cls, "__post_init__")


def _getter(names: list[str]) -> Any:
    """A function giving the tuple of ``names``' values (attrgetter gives a bare value for one)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        only = attrgetter(names[0])
        return lambda obj: (only(obj),)
    return lambda obj: ()


#: Instances a record class makes with the shared ``__init__`` before it gets one of its own.
SPECIALIZE_AFTER = 32


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The shared ``__init__``: the fields from ``args`` and ``kwargs`` in order, defaults, then
    ``__post_init__``. A class that keeps making instances (a batch) gets its own compiled one,
    as dataclasses writes it (8 fields by keyword: 1.4 µs instead of 4.9 µs here and 2.7 µs for
    a frozen dataclass), at one compile (about 0.1 ms) per class."""
    layout: _Layout = self._record_layout
    layout.calls += 1
    if layout.calls == SPECIALIZE_AFTER:
        layout.cls.__init__ = _compiled_init(layout)  # type: ignore[misc]
    given = len(args)
    if given > layout.count:
        raise TypeError(
            f"{layout.name}() takes {layout.count} positional arguments but {given} were given"
        )
    for name, value in zip(layout.names, args, strict=False):
        _set(self, name, value)
    for name, default, factory in layout.params[given:]:
        value = kwargs.pop(name, _MISSING) if kwargs else _MISSING
        if value is _MISSING:
            if factory is not None:
                value = factory()
            elif default is _MISSING:
                raise TypeError(f"{layout.name}() missing required argument: {name!r}")
            else:
                value = default
        _set(self, name, value)
    if kwargs:
        name = next(iter(kwargs))
        if name in layout.names:
            raise TypeError(f"{layout.name}() got multiple values for argument {name!r}")
        raise TypeError(f"{layout.name}() got an unexpected keyword argument {name!r}")
    if layout.post_init:
        self.__post_init__()


_FACTORY: Any = object()  # the default of a parameter whose field has a default factory


def _compiled_init(layout: _Layout) -> Any:
    """An ``__init__`` written for ``layout``'s fields, as ``dataclasses`` writes one."""
    params, body = [], []
    for i, (name, default, factory) in enumerate(layout.params):
        if factory is not None:
            params.append(f"{name}=__record_factory__")
            value = f"__record_factories__[{i}]() if {name} is __record_factory__ else {name}"
        elif default is not _MISSING:
            params.append(f"{name}=__record_defaults__[{i}]")
            value = name
        else:
            params.append(name)
            value = name
        body.append(f"    __record_set__(__record_self__, {name!r}, {value})")
    if layout.post_init:
        body.append("    __record_self__.__post_init__()")
    source = "def __init__(__record_self__, {}):\n{}\n".format(
        ", ".join(params), "\n".join(body) or "    pass"
    )
    namespace: dict[str, Any] = {
        "__record_set__": _set,
        "__record_factory__": _FACTORY,
        "__record_factories__": [factory for _, _, factory in layout.params],
        "__record_defaults__": [default for _, default, _ in layout.params],
    }
    exec(source, namespace)  # noqa: S102 - source built from a dataclass's own field names
    function = namespace["__init__"]
    function.__qualname__ = f"{layout.name}.__init__"
    return function


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        key = self._record_layout.compare
        return key(self) == key(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self._record_layout.hashed(self))


def _repr(self: Any) -> str:
    layout: _Layout = self._record_layout
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in layout.fields if f.repr)
    return f"{layout.name}({shown})"


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, name) for name in self._record_layout.names]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, value in zip(self._record_layout.names, state, strict=True):
        _set(self, name, value)


class _Factory:
    """Shown as the default of a field that has a default factory, as dataclasses shows it."""

    def __repr__(self) -> str:
        return "<factory>"


class _Signature:
    """``inspect.signature(cls)``: built when asked for, so that defining a record needs no
    :mod:`inspect`."""

    def __get__(self, instance: object, owner: type) -> Any:
        import inspect

        layout: _Layout = owner._record_layout  # type: ignore[attr-defined]
        parameters = []
        for f in layout.fields:
            if f.default is not _MISSING:
                default = f.default
            elif f.default_factory is not _MISSING:
                default = _Factory()
            else:
                default = inspect.Parameter.empty
            parameters.append(
                inspect.Parameter(
                    f.name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=default,
                    annotation=f.type,
                )
            )
        return inspect.Signature(parameters, return_annotation=None)


_SIGNATURE = _Signature()


def _record(
    cls: type | None = None,
    /,
    *,
    frozen: bool = False,
    slots: bool = False,
    repr: bool = True,
    eq: bool = True,
) -> Any:
    """``dataclass(frozen=..., slots=..., repr=..., eq=...)``, with the methods shared, not compiled."""

    def wrap(cls: type) -> type:
        has_eq = "__eq__" in cls.__dict__
        has_hash = "__hash__" in cls.__dict__ and not (cls.__dict__["__hash__"] is None and has_eq)
        has_repr = "__repr__" in cls.__dict__
        if "__init__" in cls.__dict__:
            raise TypeError(f"record {cls.__qualname__} must not define __init__")
        made: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, slots=slots)
        made._record_layout = _Layout(made)
        made.__init__ = _init
        made.__signature__ = _SIGNATURE
        if eq and not has_eq:
            made.__eq__ = _eq
        if repr and not has_repr:
            made.__repr__ = _repr
        if eq and not has_hash:  # as dataclasses does: hashable when frozen, else not at all
            made.__hash__ = _hash if frozen else None
        if frozen:
            made.__setattr__ = _frozen_setattr
            made.__delattr__ = _frozen_delattr
            if slots:
                made.__getstate__ = _getstate
                made.__setstate__ = _setstate
        return made  # type: ignore[no-any-return]

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:
    from dataclasses import dataclass as record
else:
    record = _record
