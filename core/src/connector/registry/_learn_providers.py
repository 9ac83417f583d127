"""Learning what providers provide: each in a process of its own, of the same interpreter, in time.

``learn_providers`` (the discovering process) starts one ``python -m
connector.registry._learn_providers`` per provider entry point and reads each one's answer; ``main``
(that process) imports the provider, calls ``provided()`` and prints the answer as one JSON object.
Importing a provider imports its SDK (flytekit costs seconds and may print, hang or crash), which
``connector list`` must never do itself: here a provider that crashes, hangs or answers junk is one
clear error, never the caller's crash.

The answer (an *outcome*) is ``{"provided": [item, ...]}``, each item as ``item_to_json`` writes it,
or ``{"error": "what failed", "timed_out_after": null}``; ``timed_out_after`` is the limit in
seconds when the process did not finish in time.

Run it by hand to see what a provider gives::

    python -m connector.registry._learn_providers flytekit            # the installed entry point
    python -m connector.registry._learn_providers flytekit pkg.mod:provider   # any target
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from .._settings import IMPORT_TIMEOUT_VARIABLE

#: The module run in the learning process (``python -m``).
LEARNER_MODULE = "connector.registry._learn_providers"
# How much of a dead process's stderr an error message quotes.
_TAIL = 300

logger = logging.getLogger("connector")


def timed_out(limit: float) -> dict[str, Any]:
    """The outcome of a provider whose learning did not finish within ``limit`` seconds."""
    return {
        "error": f"learning what it provides did not finish in {limit:g} s; fix the provider's import, "
        f"or raise the limit with {IMPORT_TIMEOUT_VARIABLE} (seconds)",
        "timed_out_after": limit,
    }


def failed(reason: str) -> dict[str, Any]:
    """The outcome of a provider whose learning failed for ``reason``."""
    return {"error": f"learning what it provides failed: {reason}", "timed_out_after": None}


def learn_providers(
    providers: Sequence[tuple[str, str]], *, timeout: float, sys_path: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The outcome of each ``(name, target)`` provider entry point, learned in parallel within ``timeout``.

    Each runs in ``sys.executable -m connector.registry._learn_providers`` with this process's
    ``sys.path`` (or ``sys_path``), so it sees what this process sees. A process still running at
    the deadline is killed (with its process group, where there is one).
    """
    if not providers:
        return []
    import subprocess
    import time

    path = list(sys.path if sys_path is None else sys_path)
    deadline = time.monotonic() + timeout
    started: list[subprocess.Popen[bytes] | dict[str, Any]] = []
    for name, target in providers:
        command = [sys.executable, "-m", LEARNER_MODULE, "--sys-path", json.dumps(path), name, target]
        try:
            started.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    # Its own group, so a hung provider's children are killed with it.
                    start_new_session=os.name == "posix",
                )
            )
        except OSError as exc:  # no usable sys.executable (an embedded interpreter)
            started.append(failed(f"cannot start {sys.executable!r} -m {LEARNER_MODULE}: {exc}"))
    outcomes = []
    try:
        for (name, _), process in zip(providers, started, strict=True):
            if isinstance(process, dict):
                outcomes.append(process)
                continue
            try:
                stdout, stderr = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(process)
                outcomes.append(timed_out(timeout))
                continue
            if stderr.strip():
                logger.debug("learning provider %s printed:\n%s", name, stderr.decode(errors="replace"))
            outcomes.append(_outcome(process.returncode, stdout, stderr))
    finally:
        # A Ctrl-C meanwhile (the learners run in sessions of their own, so it reaches only us)
        # must not leave a hung learner behind.
        for process in started:
            if not isinstance(process, dict) and process.poll() is None:
                _kill(process)
    return outcomes


def _kill(process: Any) -> None:
    import signal
    import subprocess

    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except OSError:
        pass
    try:
        # A grandchild outside the group may still hold the pipes: do not wait for it for long.
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()


def _outcome(code: int, stdout: bytes, stderr: bytes) -> dict[str, Any]:
    """The outcome a finished learning process printed, or the error saying why there is none."""
    text = stdout.decode("utf-8", errors="replace").strip()
    if not text:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = _tail(stderr)
        return failed(
            f"the learning process {how} without an answer" + (f"; it printed: {tail}" if tail else "")
        )
    try:
        outcome = json.loads(text)
    except ValueError:
        return failed(f"the learning process answered something that is not JSON: {_short(text)}")
    if not isinstance(outcome, dict):
        return failed(f"the learning process answered {_short(text)}, not a JSON object")
    return outcome


def _tail(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return _short(lines[-1]) if lines else ""


def _short(text: str) -> str:
    return repr(text) if len(text) <= _TAIL else repr(text[:_TAIL]) + "..."


# The learning process.


def learn(target: str) -> dict[str, Any]:
    """Import the provider ``target`` (``module:attr``), call ``provided()``: the outcome."""
    from ._discovery import _load_target
    from ._provided import ProviderResolutionError, item_to_json, resolve_provider
    from ._validation import describe_exception

    try:
        provider = resolve_provider(target, _load_target)
    except ProviderResolutionError as exc:
        return failed(str(exc))
    items: list[dict[str, Any]] = []
    try:
        iterator = iter(provider.provided())
    except BaseException as exc:  # the provider's own failure, whatever it is (issue 8)
        return failed(f"provided() raised {describe_exception(exc)}")
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return {"provided": items}
        except BaseException as exc:
            return failed(f"provided() raised {describe_exception(exc)}")
        try:
            items.append(item_to_json(item))
        except ValueError as exc:
            return failed(str(exc))


def _installed_target(name: str) -> str:
    import importlib.metadata

    from ._provided import PROVIDER_ENTRY_POINT_GROUP

    found = [ep.value for ep in importlib.metadata.entry_points(group=PROVIDER_ENTRY_POINT_GROUP, name=name)]
    if len(found) != 1:
        raise SystemExit(
            f"{len(found) or 'no'} entry point(s) named {name!r} in the {PROVIDER_ENTRY_POINT_GROUP!r} "
            "group; pass the target (module:attr) after the name"
        )
    return found[0]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m connector.registry._learn_providers [--sys-path JSON] NAME [TARGET]``: print the outcome.

    Everything the provider prints goes to stderr; stdout carries the answer alone. The process
    ends with ``os._exit``, so threads or exit handlers an SDK left behind cannot keep it alive.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {LEARNER_MODULE}", description=main.__doc__)
    parser.add_argument("--sys-path", help="the discovering process's sys.path, as a JSON list")
    parser.add_argument("name", help="the provider's entry-point name")
    parser.add_argument("target", nargs="?", help="its module:attr (default: the installed entry point's)")
    arguments = parser.parse_args(argv)
    if arguments.sys_path is not None:
        wanted = [str(entry) for entry in json.loads(arguments.sys_path)]
        # The discovering process's path first; this interpreter's own entries after it, so the
        # standard library is found even when that path was narrowed (tests do that).
        sys.path[:] = wanted + [entry for entry in sys.path if entry not in wanted]
    target = arguments.target or _installed_target(arguments.name)
    sys.stdout.flush()
    answer = os.dup(1)
    os.dup2(2, 1)  # what the provider and its SDK print goes to stderr, never into the answer
    outcome = learn(target)
    try:
        data = (json.dumps(outcome) + "\n").encode()
    except (TypeError, ValueError) as exc:
        data = (json.dumps(failed(f"its answer cannot be written as JSON: {exc}")) + "\n").encode()
    sys.stdout.flush()
    sys.stderr.flush()
    while data:
        data = data[os.write(answer, data) :]
    os._exit(0)


if __name__ == "__main__":
    main()
