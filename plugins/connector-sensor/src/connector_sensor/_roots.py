"""The path policy of connector-sensor: which local paths, globs and URLs a sensor may watch (issue 9).

``CONNECTOR_SENSOR_ROOTS`` lists absolute local directories and URL prefixes. A request names a
path; it is checked on its text first (no filesystem call for anything outside the roots), then its
symlinks are resolved one component at a time, never following one out of the roots. A request is
hostile: nothing here tells a caller whether something outside the roots exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence

from ._exceptions import PathNotAllowedError, SensorRequestError, SensorRootsError

#: The setting that lists what sensors may watch.
ROOTS_VARIABLE = "CONNECTOR_SENSOR_ROOTS"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_URL = re.compile(rf"^(?P<scheme>{_SCHEME.pattern})://")
# URLs of these schemes name local files: they obey the local rules and never reach fsspec.
_LOCAL_SCHEMES = frozenset({"file", "local"})
_MAGIC = frozenset("*?[")
# Symlinks followed while resolving one path before giving up, as the kernel's ELOOP (40 on Linux).
_MAX_LINKS = 40


def has_magic(text: str) -> bool:
    """Whether ``text`` holds a glob character (``*``, ``?`` or ``[``)."""
    return any(char in _MAGIC for char in text)


def url_scheme(text: str) -> str | None:
    """The lower-cased scheme of a ``scheme://...`` URL; None for anything else (a local path)."""
    match = _URL.match(text)
    return match["scheme"].lower() if match else None


def _normalize(path: str) -> str:
    """``path`` with ``.``, ``..`` and repeated separators resolved on the text alone."""
    path = os.path.normpath(path)
    if os.sep == "/" and path.startswith("//"):  # POSIX keeps two leading slashes; Linux reads one
        path = "/" + path.lstrip("/")
    return path


def _split(path: str) -> list[str]:
    return re.split(r"[\\/]", path) if os.altsep else path.split(os.sep)


def _below(root: str, path: str) -> tuple[str, ...] | None:
    """The components of ``path`` below ``root`` (both normalized), or None when it is not below."""
    folded_root, folded = os.path.normcase(root), os.path.normcase(path)
    if folded == folded_root:
        return ()
    prefix = folded_root if folded_root.endswith(os.sep) else folded_root + os.sep
    if not folded.startswith(prefix):
        return None
    return tuple(part for part in _split(path[len(prefix) :]) if part)


def _has_dot_segment(path: str) -> bool:
    """Whether a URL path has a ``.`` or ``..`` segment, also once percent-decoded (``%2e%2e``)."""
    for _ in range(3):  # a server may decode more than once: %252e%252e
        if any(part in (".", "..") for part in re.split(r"[\\/]", path)):
            return True
        decoded = urllib.parse.unquote(path)
        if decoded == path:
            return False
        path = decoded
    return True  # still encoded after three rounds: nothing honest looks like that


def local_path_of_url(url: str, *, task: str, field: str | None = None) -> str:
    """The local path of a ``file://`` or ``local://`` URL (percent-decoded); another host's is refused."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        scheme = parts.scheme.lower()
        raise SensorRequestError(
            f"{task}: {url!r} names the host {parts.netloc!r}; a {scheme}:// URL must be local "
            f"({scheme}:///path)",
            field=field,
        )
    return urllib.request.url2pathname(parts.path)


@dataclasses.dataclass(frozen=True)
class LocalRoot:
    """A local directory sensors may watch: as configured (normalized) and its real path."""

    path: str
    real: str


@dataclasses.dataclass(frozen=True)
class UrlPrefix:
    """A URL prefix sensors may watch: a scheme, an exact network location and a path prefix."""

    scheme: str
    netloc: str
    path: str  # without a trailing slash; "" for the whole network location

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}/"

    def contains(self, scheme: str, netloc: str, path: str) -> bool:
        """Whether a URL of these parts lies under this prefix (whole segments: ``/in`` is not ``/inx``)."""
        if scheme != self.scheme or netloc != self.netloc:
            return False
        return not self.path or path == self.path or path.startswith(self.path + "/")


@dataclasses.dataclass(frozen=True)
class LocalTarget:
    """A local path or glob under ``root``: the root's real path, then ``base``, then ``pattern``.

    ``base`` holds the components before the first one with a glob character, ``pattern`` that one
    and the rest (empty for a plain path). ``asked`` is the path as the request gave it.
    """

    asked: str
    task: str
    field: str | None
    root: LocalRoot
    base: tuple[str, ...]
    pattern: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class UrlTarget:
    """A URL under one of the roots' URL prefixes, to be read through fsspec."""

    asked: str
    task: str
    field: str | None
    scheme: str
    is_glob: bool


class LeadsOutside(Exception):
    """A symlink under a root leads outside every root (internal: turned into ``PathNotAllowedError``)."""


class SensorRoots:
    """What sensors may watch: local directories and URL prefixes, from ``CONNECTOR_SENSOR_ROOTS``.

    Build it with ``parse`` or ``from_environment``. ``target`` checks a request's path on its text
    alone; ``real_path`` resolves symlinks without following one out of the roots. With no roots
    (the setting unset or blank) nothing may be watched.
    """

    def __init__(
        self,
        local: Sequence[LocalRoot] = (),
        urls: Sequence[UrlPrefix] = (),
        *,
        variable: str = ROOTS_VARIABLE,
    ) -> None:
        self.local = tuple(local)
        self.urls = tuple(urls)
        self.variable = variable

    def __repr__(self) -> str:
        roots = [root.path for root in self.local] + [str(prefix) for prefix in self.urls]
        return f"<SensorRoots {self.variable}={os.pathsep.join(roots)!r}>"

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, variable: str = ROOTS_VARIABLE
    ) -> SensorRoots:
        """The roots ``variable`` lists in ``environ`` (``os.environ`` by default); none when unset."""
        env = os.environ if environ is None else environ
        return cls.parse(env.get(variable), variable=variable)

    @classmethod
    def parse(cls, value: str | None, *, variable: str = ROOTS_VARIABLE) -> SensorRoots:
        """Roots from a setting's value: entries separated by ``os.pathsep``; None or blank: no roots.

        Each entry is an absolute directory (``~`` expanded; a ``file://`` URL is one too) or a URL
        prefix (``s3://bucket/incoming/``). On POSIX the ``:`` of a URL's scheme and port stay in it;
        any other ``:`` separates entries.
        Raises ``SensorRootsError``, naming ``variable``, for an entry that cannot be used.
        """
        if value is None or not value.strip():
            return cls(variable=variable)
        local: list[LocalRoot] = []
        urls: list[UrlPrefix] = []
        for entry in (part.strip() for part in _split_entries(value)):
            if not entry:
                raise SensorRootsError(
                    f"{variable} has an empty entry (two {os.pathsep!r} in a row, or one at an end) in "
                    f"{value!r}; list absolute directories and URL prefixes separated by {os.pathsep!r}",
                    variable=variable,
                )
            root = _parse_entry(entry, variable)
            if isinstance(root, LocalRoot):
                local.append(root)
            else:
                urls.append(root)
        return cls(local, urls, variable=variable)

    # Checking a request's path: on its text, touching nothing.

    def target(self, path: object, *, task: str, field: str | None = None) -> LocalTarget | UrlTarget:
        """Check ``path`` (from a template or a meta) against the roots, on its text alone.

        Raises ``SensorRequestError`` for a path that is not a usable string or is relative, and
        ``PathNotAllowedError`` for one outside the roots. ``task`` and ``field`` go into messages.
        """
        if not isinstance(path, str) or not path.strip():
            message = f"{task}: the path must be a non-empty string; got {path!r}"
            raise SensorRequestError(message, field=field)
        _check_text(path, path, task=task, field=field)
        scheme = url_scheme(path)
        if scheme is not None and scheme not in _LOCAL_SCHEMES:
            return self._url_target(path, scheme, task=task, field=field)
        if scheme is not None:
            local = local_path_of_url(path, task=task, field=field)
            _check_text(local, path, task=task, field=field)
        elif path == "~" or (path[0] == "~" and path[1] in (os.sep, os.altsep)):
            # Only the service's own home: ~name would look a user up, which answers differently
            # for users that exist (an oracle), so it stays relative and is refused below.
            local = os.path.expanduser(path)
        else:
            local = path
        if not os.path.isabs(local):
            raise SensorRequestError(
                f"{task}: the path {path!r} is relative; give an absolute path, ~/..., a file:// URL or a "
                "URL of a filesystem fsspec knows",
                field=field,
            )
        found = self._containing(_normalize(local))
        if found is None:
            raise self.refusal(path, task=task, field=field)
        root, rest = found
        first_magic = next((i for i, part in enumerate(rest) if has_magic(part)), len(rest))
        return LocalTarget(path, task, field, root, rest[:first_magic], rest[first_magic:])

    def _url_target(self, url: str, scheme: str, *, task: str, field: str | None) -> UrlTarget:
        if "::" in url:
            raise SensorRequestError(
                f"{task}: the URL {url!r} chains filesystems with '::', which {task} does not allow",
                field=field,
            )
        netloc, slash, rest = url[len(scheme) + 3 :].partition("/")
        path = slash + rest
        if _has_dot_segment(path):
            raise SensorRequestError(
                f"{task}: the URL {url!r} has a '.' or '..' segment; name the object without them",
                field=field,
            )
        # The network location is compared whole: no prefix lists a user, so "ok@evil" and
        # "ok:21@evil:2121" never equal one; the port is part of it.
        if not any(prefix.contains(scheme, netloc, path) for prefix in self.urls):
            raise self.refusal(url, task=task, field=field)
        return UrlTarget(url, task, field, scheme, has_magic(path))

    def refusal(self, path: str, *, task: str, field: str | None = None) -> PathNotAllowedError:
        """The error for ``path`` outside the roots: the same whether or not it exists."""
        if self.local or self.urls:
            message = (
                f"{task}: the path {path!r} is outside the roots it may watch; to allow it, add a "
                f"directory or URL prefix that contains it to {self.variable}"
            )
        else:
            message = (
                f"{task}: the path {path!r} is outside the roots it may watch ({self.variable} is not "
                f"set, so there are none); to allow it, set {self.variable} to a directory or URL "
                "prefix that contains it"
            )
        return PathNotAllowedError(message, path=path, field=field)

    def _containing(self, path: str) -> tuple[LocalRoot, tuple[str, ...]] | None:
        """The root ``path`` (normalized) lies under, by the longest match, and the components below it."""
        best: tuple[int, LocalRoot, tuple[str, ...]] | None = None
        for root in self.local:
            for form in (root.path, root.real):
                rest = _below(form, path)
                if rest is not None and (best is None or len(form) > best[0]):
                    best = (len(form), root, rest)
        return None if best is None else (best[1], best[2])

    # Resolving symlinks: only ever touching paths inside the roots.

    def real_path(self, start: str, parts: Sequence[str]) -> tuple[str, int] | None:
        """The real path and ``st_mode`` of ``start`` joined with ``parts``; None when nothing is there.

        ``start`` is a real directory inside a root (a root's ``real``, or a result of this method).
        Symlinks are followed one component at a time; each path looked at is first checked to be
        inside a root on its text, so a symlink that leads out raises ``LeadsOutside`` before
        anything outside is touched. A loop of symlinks, a missing or unreadable component, or a
        file where a directory is needed give None: the path does not exist.
        """
        current = start
        pending = list(parts)
        mode: int | None = None
        links = 0
        while pending:
            part = pending.pop(0)
            if part in ("", os.curdir):
                continue
            if part == os.pardir:  # only from a symlink's target: the request's own were normalized
                current, mode = os.path.dirname(current), None
                continue
            candidate = os.path.join(current, part)
            if self._containing(candidate) is None:
                raise LeadsOutside(candidate)
            try:
                mode = os.lstat(candidate).st_mode
            except (OSError, ValueError):
                return None
            if stat.S_ISLNK(mode):
                links += 1
                if links > _MAX_LINKS:
                    return None
                try:
                    link = os.readlink(candidate)
                except (OSError, ValueError):
                    return None
                mode = None
                if os.path.isabs(link):
                    found = self._containing(_normalize(link))
                    if found is None:
                        raise LeadsOutside(link)
                    current, pending = found[0].real, [*found[1], *pending]
                else:
                    pending = [*_split(link), *pending]
                continue
            current = candidate
            if pending and not stat.S_ISDIR(mode):
                return None
        if self._containing(current) is None:
            raise LeadsOutside(current)
        if mode is None:  # ended on a symlink's target or a '..': look at where that is
            try:
                mode = os.lstat(current).st_mode
            except (OSError, ValueError):
                return None
        return current, mode


def _check_text(text: str, asked: str, *, task: str, field: str | None) -> None:
    """Refuse what no filesystem call can take: a NUL, or characters the file system cannot encode."""
    if "\0" in text:
        raise SensorRequestError(f"{task}: the path {asked!r} contains a NUL character", field=field)
    try:
        os.fsencode(text)
    except UnicodeError:
        raise SensorRequestError(
            f"{task}: the path {asked!r} has characters no file name can hold", field=field
        ) from None


def _split_entries(value: str) -> list[str]:
    """The entries of the setting. On POSIX ``os.pathsep`` is ``:``, which URLs hold too: the ``:`` of
    ``scheme://`` and of a port (``ftp://host:2121/``) stay in their entry."""
    if os.pathsep != ":":
        return value.split(os.pathsep)
    chunks = value.split(":")
    entries = []
    index = 0
    while index < len(chunks):
        entry = chunks[index]
        index += 1
        if _SCHEME.fullmatch(entry) and index < len(chunks) and chunks[index].startswith("//"):
            entry = f"{entry}:{chunks[index]}"
            index += 1
            in_location = "/" not in entry.split("://", 1)[1]
            if in_location and index < len(chunks) and re.match(r"\d+(/|$)", chunks[index]):
                entry = f"{entry}:{chunks[index]}"
                index += 1
        entries.append(entry)
    return entries


def _parse_entry(entry: str, variable: str) -> LocalRoot | UrlPrefix:
    scheme = url_scheme(entry)
    if scheme in _LOCAL_SCHEMES:
        parts = urllib.parse.urlsplit(entry)
        if parts.netloc not in ("", "localhost"):
            raise SensorRootsError(
                f"{variable}: {entry!r} names the host {parts.netloc!r}; a {scheme}:// root must be local",
                variable=variable,
                entry=entry,
            )
        return _local_root(urllib.request.url2pathname(parts.path), entry, variable)
    if scheme is not None:
        return _url_prefix(entry, scheme, variable)
    return _local_root(os.path.expanduser(entry), entry, variable)


def _local_root(path: str, entry: str, variable: str) -> LocalRoot:
    if not os.path.isabs(path):
        raise SensorRootsError(
            f"{variable}: {entry!r} is neither an absolute directory nor a URL prefix; give absolute "
            f"directories (/data/incoming) and URL prefixes (s3://bucket/incoming/) separated by "
            f"{os.pathsep!r}",
            variable=variable,
            entry=entry,
        )
    if has_magic(path) or "\0" in path:
        raise SensorRootsError(
            f"{variable}: {entry!r} is a glob; a root is a directory", variable=variable, entry=entry
        )
    normalized = _normalize(path)
    # Resolved once, here: resolving per request would look at the roots' parent directories.
    return LocalRoot(normalized, _normalize(os.path.realpath(normalized)))


def _url_prefix(entry: str, scheme: str, variable: str) -> UrlPrefix:
    netloc, slash, rest = entry[len(scheme) + 3 :].partition("/")
    path = (slash + rest).rstrip("/")
    problem = None
    if not netloc and not path:
        problem = "names no location, so it would allow nothing; list each bucket or host (s3://bucket/)"
    elif "@" in netloc:
        problem = "names a user; give credentials in fsspec's configuration, not in the root"
    elif any(char in entry for char in "?#") or has_magic(entry):
        problem = "has a query, a fragment or a glob character; a root is a plain prefix"
    elif "::" in entry:
        problem = "chains filesystems with '::'; list the URL of the filesystem itself"
    elif _has_dot_segment(path):
        problem = "has a '.' or '..' segment"
    if problem:
        raise SensorRootsError(f"{variable}: {entry!r} {problem}", variable=variable, entry=entry)
    return UrlPrefix(scheme, netloc, path)
