"""``regimage._record.record`` behaves as ``dataclasses.dataclass`` does, for what regimage uses.

Each behaviour is checked on twin classes: one made by ``dataclass``, one by ``record``, with the
same fields and options; the answers must be the same.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import pickle
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

import regimage
from regimage._record import SPECIALIZE_AFTER, _record, record
from regimage.descriptor import Descriptor
from regimage.digest import Digest
from regimage.platforms import Platform


def _twins(**options: Any) -> tuple[type, type]:
    """The same class body decorated by ``dataclass`` and by ``record``."""

    def body() -> type:
        class Sample:
            """A record with a required field, a default, a factory and per-field options."""

            name: str
            size: int = 0
            labels: Mapping[str, str] = field(default_factory=dict, hash=False)
            note: str = field(default="", compare=False)
            secret: str | None = field(default=None, repr=False)

        return Sample

    return dataclass(**options)(body()), _record(**options)(body())


FROZEN = {"frozen": True, "slots": True}


def test_construction_equality_hash_and_repr_match_dataclass() -> None:
    std, ours = _twins(**FROZEN)
    for args, kwargs in [
        (("a",), {}),
        (("a", 2), {"note": "n"}),
        ((), {"name": "b", "secret": "s"}),
    ]:
        a, b = std(*args, **kwargs), ours(*args, **kwargs)
        assert repr(a).replace("_twins.<locals>.body.<locals>.", "") == repr(b).replace(
            "_twins.<locals>.body.<locals>.", ""
        )
        assert dataclasses.asdict(a) == dataclasses.asdict(b)
        assert hash(b) == hash(ours(*args, **kwargs))
    assert ours("a", note="x") == ours("a", note="y")  # compare=False
    assert hash(ours("a", labels={"k": "v"})) == hash(ours("a"))  # hash=False
    assert ours("a", labels={"k": "v"}) != ours("a")  # still compared
    assert ours("a") != ours("b")
    assert ours("a").__eq__(std("a")) is NotImplemented
    assert "secret" not in repr(ours("a", secret="hunter2"))


def test_defaults_and_factories() -> None:
    _, ours = _twins(**FROZEN)
    one, two = ours("a"), ours("a")
    assert one.labels == {}
    assert one.labels is not two.labels  # a new object each time
    assert (one.size, one.note, one.secret) == (0, "", None)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required argument: 'name'"),
        (("a", 1, {}, "", None, "extra"), {}, "takes 5 positional arguments but 6 were given"),
        (("a",), {"name": "b"}, "got multiple values for argument 'name'"),
        (("a",), {"colour": "red"}, "got an unexpected keyword argument 'colour'"),
    ],
)
def test_bad_arguments_raise_type_error(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    std, ours = _twins(**FROZEN)
    with pytest.raises(TypeError):
        std(*args, **kwargs)
    with pytest.raises(TypeError, match=message):
        ours(*args, **kwargs)


def test_frozen_records_refuse_assignment_and_deletion() -> None:
    _, ours = _twins(**FROZEN)
    sample = ours("a")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'size'"):
        sample.size = 3
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'size'"):
        del sample.size
    with pytest.raises(AttributeError):
        sample.__dict__  # noqa: B018 - slotted: no instance dictionary


def test_replace_and_copy() -> None:
    _, ours = _twins(**FROZEN)
    sample = ours("a", 2, {"k": "v"}, "n", "s")
    changed = dataclasses.replace(sample, size=3)
    assert (changed.name, changed.size, changed.labels) == ("a", 3, {"k": "v"})
    for clone in (copy.copy(sample), copy.deepcopy(sample)):
        assert clone == sample
        assert (clone.secret, clone.note) == ("s", "n")


def test_records_pickle() -> None:
    descriptor = Descriptor(
        media_type="application/vnd.oci.image.manifest.v1+json",
        digest=Digest.parse("sha256:" + "a" * 64),
        size=7,
        platform=Platform(os="linux", architecture="arm64", variant="v8"),
        annotations={"k": "v"},
    )
    clone = pickle.loads(pickle.dumps(descriptor))  # noqa: S301 - our own bytes
    assert clone == descriptor
    assert clone.platform == descriptor.platform


def test_mutable_records_are_unhashable_and_assignable() -> None:
    std, ours = _twins(slots=True)
    sample = ours("a")
    sample.size = 4
    assert sample.size == 4
    assert sample == ours("a", 4)
    for unhashable in (std("a"), sample):
        with pytest.raises(TypeError, match="unhashable"):
            hash(unhashable)


def _checked(seen: list[str]) -> Any:
    """A record whose ``__post_init__`` notes each value in ``seen`` and refuses an empty one."""

    @record(frozen=True, slots=True)
    class Checked:
        """Validates in __post_init__."""

        value: str

        def __post_init__(self) -> None:
            seen.append(self.value)
            if not self.value:
                raise ValueError("empty")

    return Checked


def test_signature_fields_and_post_init() -> None:
    std, ours = _twins(**FROZEN)
    assert str(inspect.signature(ours)) == str(inspect.signature(std))
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(std)]
    assert getattr(ours, "__match_args__") == getattr(std, "__match_args__")  # noqa: B009

    seen: list[str] = []
    Checked = _checked(seen)
    assert Checked("x").value == "x"
    assert seen == ["x"]
    with pytest.raises(ValueError, match="empty"):
        Checked("")


def test_own_methods_are_kept() -> None:
    @record(frozen=True, slots=True, repr=False)
    class Shown:
        """Writes its own repr."""

        value: str

        def __repr__(self) -> str:
            return "<Shown>"

    assert repr(Shown("x")) == "<Shown>"
    with pytest.raises(TypeError, match="must not define __init__"):

        @_record(frozen=True, slots=True)
        class Initialised:
            """Defines __init__, which record would replace."""

            value: str

            def __init__(self) -> None:
                pass


def _regimage_dataclasses() -> list[type]:
    found = []
    for module in pkgutil.iter_modules(regimage.__path__, "regimage."):
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if (
                isinstance(value, type)
                and value.__module__ == loaded.__name__
                and dataclasses.is_dataclass(value)
            ):
                found.append(value)
    return found


def test_every_dataclass_of_regimage_is_a_record() -> None:
    """``@dataclass`` compiles its methods at import, which the CLI pays at every start."""
    classes = _regimage_dataclasses()
    assert len(classes) >= 25
    plain = [c.__qualname__ for c in classes if "_record_layout" not in c.__dict__]
    assert plain == []
    for cls in classes:
        names = [f.name for f in dataclasses.fields(cls)]
        assert list(inspect.signature(cls).parameters) == names
        assert cls.__doc__  # else dataclasses asks inspect for a signature to write one
        assert not cls.__doc__.startswith(cls.__name__ + "(")


def test_a_busy_class_gets_its_own_init_and_behaves_the_same() -> None:
    std, ours = _twins(**FROZEN)
    shared = vars(ours)["__init__"]
    made = [ours(str(i), labels={"i": str(i)}) for i in range(SPECIALIZE_AFTER + 1)]
    assert vars(ours)["__init__"] is not shared  # compiled for the class
    assert [m.name for m in made] == [str(i) for i in range(SPECIALIZE_AFTER + 1)]
    for args, kwargs in [
        (("a",), {}),
        (("a", 2), {"note": "n"}),
        ((), {"name": "b", "secret": "s"}),
    ]:
        assert dataclasses.asdict(ours(*args, **kwargs)) == dataclasses.asdict(std(*args, **kwargs))
    one, two = ours("a"), ours("a")
    assert one.labels == {}
    assert one.labels is not two.labels
    bad: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}),
        (("a", 1, {}, "", None, "x"), {}),
        (("a",), {"name": "b"}),
    ]
    for args, kwargs in bad:
        with pytest.raises(TypeError):
            ours(*args, **kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.size = 2

    seen: list[str] = []
    Checked = _checked(seen)
    for i in range(SPECIALIZE_AFTER + 1):
        Checked(str(i))
    assert len(seen) == SPECIALIZE_AFTER + 1
    with pytest.raises(ValueError, match="empty"):
        Checked("")
