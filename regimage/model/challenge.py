"""``WWW-Authenticate`` challenges (RFC 7235 §4.1), parsed the way registry clients need them.

Grammar (RFC 7235 §2.1 and §4.1, RFC 7230 §3.2.6 and §7)::

    WWW-Authenticate = 1#challenge               ; comma-separated, empty elements allowed
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )   ; token read leniently
    token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    quoted-string    = DQUOTE *( qdtext / "\\" ( HTAB / SP / VCHAR / obs-text ) ) DQUOTE

Schemes and parameter names are case-insensitive and reported lower-case. Several challenges may
share one header line (``Bearer realm="a",service="b", Basic realm="c"``): after a comma, a
``name=`` starts another parameter and anything else starts the next challenge.

Registry clients disagree on malformed input (see tests/vectors/challenge_cases.json, ``meta``);
the choices made here are commented where they are made. In short: recover where the meaning is
still certain (a header cut off inside its last parameter), refuse where it is not (a missing comma,
a control character, a challenge whose first parameter is already broken).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from regimage.errors import InvalidChallenge

__all__ = ["Challenge", "parse_challenges"]

#: RFC 7230 tchar: the characters of a scheme or parameter name, and of an unquoted value.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
#: An unquoted parameter value. RFC 7235 allows only a token, but regclient accepts any run of
#: visible characters (``realm=/``), and so do we: the value still ends unambiguously at the next
#: space, comma or quote, so accepting it costs nothing and spares a refusal.
_UNQUOTED = re.compile(r'[^ \t,"\\\x00-\x1f\x7f]+')
#: RFC 7235 token68: base64-ish credentials some schemes (Negotiate, NTLM) put after the scheme.
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*", re.ASCII)
#: Optional whitespace (OWS/BWS): spaces and tabs.
_OWS = re.compile(r"[ \t]*")
#: A run of list separators: commas and the whitespace around them (empty list elements allowed).
_SEPARATORS = re.compile(r"[ \t,]*")

#: How a known scheme is spelled when a challenge is written back out.
_DISPLAY = {"basic": "Basic", "bearer": "Bearer", "digest": "Digest", "negotiate": "Negotiate"}

#: The longest piece of a header quoted back in an error message.
_EXCERPT = 120


@dataclass(frozen=True, slots=True, repr=False)
class Challenge:
    """One authentication challenge: a lower-case ``scheme`` and its lower-case-keyed ``params``.

    ``token68`` holds the opaque value of schemes that send one instead of parameters
    (``Negotiate YII…``). ``str()`` gives the challenge back in header form.
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    token68: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scheme", self.scheme.lower())
        object.__setattr__(self, "params", {k.lower(): v for k, v in self.params.items()})

    @property
    def realm(self) -> str | None:
        """Where to get a token (Bearer), or the protection space's name (Basic)."""
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        """The ``service`` to name in a Bearer token request."""
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        """The ``scope`` the registry asks for (space-separated when several), verbatim."""
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        """The RFC 6750 ``error`` code of a Bearer challenge (``invalid_token``,
        ``insufficient_scope``), when the registry explains a refusal."""
        return self.params.get("error")

    def __str__(self) -> str:
        name = _DISPLAY.get(self.scheme, self.scheme)
        if self.token68 is not None:
            return f"{name} {self.token68}"
        if not self.params:
            return name
        return name + " " + ",".join(f"{k}={_quote(v)}" for k, v in self.params.items())

    def __repr__(self) -> str:
        return f"<Challenge({str(self)!r})>"


def parse_challenges(headers: str | Iterable[str]) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` value, or several (one per header line), in order.

    Order is kept as sent: choosing among challenges is the caller's business (containerd sorts
    by scheme and drops unknown ones; we leave that to auth). An empty header gives no challenge.
    Raises :class:`~regimage.errors.InvalidChallenge` for input that cannot be read safely.
    """
    lines = [headers] if isinstance(headers, str) else list(headers)
    challenges: list[Challenge] = []
    for line in lines:
        if not isinstance(line, str):
            raise InvalidChallenge(
                f"WWW-Authenticate value must be a string, not {type(line).__name__}"
            )
        challenges.extend(_Parser(line).challenges())
    return challenges


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class _Truncated(Exception):
    """The header ended inside a parameter (its value missing, or a quoted string unclosed)."""


class _Parser:
    """A cursor over one header value; each method consumes what it recognises."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    # ── the grammar ──────────────────────────────────────────────────────────────────────────

    def challenges(self) -> list[Challenge]:
        found: list[Challenge] = []
        while True:
            self._skip(_SEPARATORS)
            if self._at_end():
                return found
            try:
                found.append(self._challenge())
            except _Truncated as cut:
                # The header ends inside the first parameter of a challenge: nothing of it can be
                # trusted. regclient fails the whole header, and so do we when it is the only one;
                # challenges that came complete before it are kept (oras-go keeps what it read).
                if found:
                    return found
                raise self._error(
                    f"the header ends inside the first parameter of the {cut.args[0]!r} challenge"
                ) from None

    def _challenge(self) -> Challenge:
        scheme = self._match(_TOKEN)
        if scheme is None:
            raise self._error("expected an authentication scheme")
        if self._at_end() or self._peek() == ",":
            return Challenge(scheme)
        if not self._skip(_OWS):
            raise self._error(f"expected a space after the scheme {scheme!r}")
        if self._at_end() or self._peek() == ",":
            return Challenge(scheme)
        token68 = self._token68()
        if token68 is not None:
            return Challenge(scheme, token68=token68)
        # Parameters are read for every scheme. oras-go reads them only for Bearer (its Basic
        # challenges come back empty); containerd, distribution, go-containerregistry and
        # regclient read them for all, and a Basic realm is worth showing to a user.
        params: dict[str, str] = {}
        while True:
            try:
                name, value = self._param()
            except _Truncated:
                # The header ends inside this parameter. oras-go keeps the parameters read before
                # it; regclient fails the whole header. We keep them (the broken one is dropped,
                # so nothing half-read is ever used) unless there are none: then the challenge
                # itself is what is broken (see challenges()).
                if params:
                    self.pos = len(self.text)
                    return Challenge(scheme, params)
                raise _Truncated(scheme) from None
            # RFC 7235 §2.2: each parameter name occurs once per challenge. Should one repeat,
            # the first is kept (the Go parsers, storing into a map, keep the last): a value the
            # registry put first cannot be overridden by something appended after it.
            params.setdefault(name, value)
            self._skip(_OWS)
            if self._at_end():
                return Challenge(scheme, params)
            if self._peek() != ",":
                # `realm="a" charset="b"`: without the comma we cannot tell a parameter from the
                # start of another challenge. regclient refuses; the distribution lineage stops
                # reading there. Guessing could pick the wrong realm, so we refuse too.
                raise self._error("expected ',' between parameters")
            comma = self.pos
            self._skip(_SEPARATORS)
            if self._at_end():
                return Challenge(scheme, params)
            if not self._at_param():
                self.pos = comma  # the next challenge starts here; the header loop skips the comma
                return Challenge(scheme, params)

    def _param(self) -> tuple[str, str]:
        name = self._match(_TOKEN)
        if name is None:
            raise self._error("expected a parameter name")
        self._skip(_OWS)
        if self._at_end():
            raise _Truncated
        if self._peek() != "=":
            raise self._error(f"expected '=' after the parameter name {name!r}")
        self.pos += 1
        self._skip(_OWS)  # BWS around "=" is tolerated (oras-go does too)
        if self._at_end():
            raise _Truncated
        if self._peek() == '"':
            return name.lower(), self._quoted_string()
        value = self._match(_UNQUOTED)
        if value is None:
            raise self._error(f"expected a value for the parameter {name!r}")
        return name.lower(), value

    def _quoted_string(self) -> str:
        text, i = self.text, self.pos + 1
        out: list[str] = []
        while i < len(text):
            char = text[i]
            if char == '"':
                self.pos = i + 1
                return "".join(out)
            if char == "\\":
                if i + 1 == len(text):
                    raise _Truncated  # a dangling escape: regclient's "missing value after escape"
                i += 1
                char = text[i]
            if _is_control(char):
                self.pos = i
                raise self._error("control character in a quoted string")
            out.append(char)
            i += 1
        raise _Truncated

    def _token68(self) -> str | None:
        """A token68 right after the scheme, if the challenge is one (it must end the challenge)."""
        match = _TOKEN68.match(self.text, self.pos)
        if match is None:
            return None
        end = self._ows_end(match.end())
        if end < len(self.text) and self.text[end] != ",":
            return None  # `name=value` (or junk): parameters, not a token68
        self.pos = end
        return match.group()

    def _at_param(self) -> bool:
        """Whether a parameter (``name BWS =``) starts here rather than a new challenge."""
        name = _TOKEN.match(self.text, self.pos)
        if name is None:
            return False
        after = self._ows_end(name.end())
        return after < len(self.text) and self.text[after] == "="

    # ── the cursor ───────────────────────────────────────────────────────────────────────────

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _peek(self) -> str:
        return self.text[self.pos]

    def _ows_end(self, start: int) -> int:
        """Where the optional whitespace starting at ``start`` ends."""
        match = _OWS.match(self.text, start)
        return start if match is None else match.end()

    def _match(self, pattern: re.Pattern[str]) -> str | None:
        match = pattern.match(self.text, self.pos)
        if match is None or not match.group():
            return None
        self.pos = match.end()
        return match.group()

    def _skip(self, pattern: re.Pattern[str]) -> bool:
        """Consume what ``pattern`` matches here; whether it consumed anything."""
        match = pattern.match(self.text, self.pos)
        if match is None or match.end() == self.pos:
            return False
        self.pos = match.end()
        return True

    def _error(self, what: str) -> InvalidChallenge:
        start = max(0, self.pos - _EXCERPT // 2)
        excerpt = self.text[start : start + _EXCERPT]
        return InvalidChallenge(
            f"malformed WWW-Authenticate header: {what} at position {self.pos}: {excerpt!r}"
        )


def _is_control(char: str) -> bool:
    """RFC 7230 forbids CTLs (except HTAB) in quoted strings, even escaped."""
    code = ord(char)
    return (code < 0x20 and char != "\t") or code == 0x7F
