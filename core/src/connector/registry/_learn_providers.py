"""Learning what providers provide: each in a process of its own, of the same interpreter, in time.

``learn_providers`` (the discovering process) starts one learning process per provider entry point
and reads each one's outcome (its format: ``registry/_provided.py``); ``main`` (that process)
imports the provider, calls ``provided()`` and writes the outcome as one JSON object. Importing a
provider imports its SDK (flytekit costs seconds and may print, hang or crash), which ``connector
list`` must never do itself: here a provider that crashes, hangs or answers junk is one clear
error, never the caller's crash.

The learning process is started isolated (``python -I``: no current directory, no ``PYTHON*``
variables, no user site; this interpreter's optimization, UTF-8 and warning settings are passed as
options, and ``-B``: it writes no bytecode) with exactly the discovering process's ``sys.path``.
What it prints goes to a temporary file, of which only the end is kept; its answer goes to another
file, whatever it printed, and may be at most ``ANSWER_LIMIT`` bytes (issue 11).

Run it by hand to see what a provider gives (it prints the answer on stdout)::

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

from ._provided import failed, timed_out

#: The module the learning process runs.
LEARNER_MODULE = "connector.registry._learn_providers"
#: The most bytes a learning process's answer may have.
ANSWER_LIMIT = 16 * 1024 * 1024
# How much of a learning process's output is kept (for the debug log; its last line for errors).
_OUTPUT_KEPT = 64 * 1024
# How much of that output an error message quotes.
_TAIL = 300

# Run by ``python -I -c`` with: the folder connector is imported from, the number of sys.path
# entries, the entries, then main's arguments. The learner itself (connector, its dependencies, the
# standard library) is imported from that folder and the interpreter's own path, which -I keeps free
# of the current directory; then the provider is imported with exactly the caller's path (issue 11).
_BOOTSTRAP = """\
import sys
root, count = sys.argv[1], int(sys.argv[2])
path, arguments = sys.argv[3 : 3 + count], sys.argv[3 + count :]
sys.path[:] = [root, *sys.path, *path]
from connector.registry import _learn_providers
sys.path[:] = path
sys.argv[:] = [_learn_providers.__file__, *arguments]
_learn_providers.main(arguments)
"""
#: The folder this connector is imported from.
_CONNECTOR_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

logger = logging.getLogger("connector")


def learn_providers(
    providers: Sequence[tuple[str, str]], *, timeout: float, sys_path: Sequence[object] | None = None
) -> list[dict[str, Any]]:
    """The outcome of each ``(name, target)`` provider entry point, learned in parallel within ``timeout``.

    Each runs in ``sys.executable -I`` with this process's ``sys.path`` (or ``sys_path``; entries
    that are neither text nor path-like are left out), so it sees what this process sees. A process
    still running at the deadline is killed (with its process group, where there is one); the others
    are answers however long that one took.
    """
    if not providers:
        return []
    import subprocess
    import tempfile
    import time

    path = _text_entries(sys.path if sys_path is None else sys_path)
    with tempfile.TemporaryDirectory(prefix="connector-learn-", ignore_cleanup_errors=True) as directory:
        deadline = time.monotonic() + timeout
        started: list[tuple[subprocess.Popen[bytes], str, str] | dict[str, Any]] = []
        for index, (name, target) in enumerate(providers):
            answer = os.path.join(directory, f"{index}.answer")
            output = os.path.join(directory, f"{index}.output")
            command = [
                sys.executable,
                "-I",
                *_interpreter_flags(),
                "-c",
                _BOOTSTRAP,
                _CONNECTOR_ROOT,
                str(len(path)),
                *path,
                "--answer-file",
                answer,
                name,
                target,
            ]
            try:
                with open(output, "wb") as stream:
                    process = subprocess.Popen(
                        command,
                        stdin=subprocess.DEVNULL,
                        # To a file, not a pipe: nothing blocks on it however much it prints, and no
                        # pipe needs reading while another learner is waited for.
                        stdout=stream,
                        stderr=stream,
                        # Its own group, so a hung provider's children are killed with it.
                        start_new_session=os.name == "posix",
                    )
                started.append((process, answer, output))
            except OSError as exc:  # no usable sys.executable (an embedded interpreter)
                started.append(failed(f"cannot start {sys.executable!r} -I -c (the learner): {exc}"))
        outcomes = []
        try:
            for (name, _), learner in zip(providers, started, strict=True):
                if isinstance(learner, dict):
                    outcomes.append(learner)
                    continue
                process, answer, output = learner
                # Without pipes, waiting is all there is; one that finished while another was
                # waited for returns at once (wait polls before it checks the time left).
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill(process)
                    outcomes.append(timed_out(timeout))
                    continue
                printed = _end_of(output)
                if printed.strip():
                    logger.debug("learning provider %s printed:\n%s", name, printed)
                outcomes.append(_outcome(process.returncode, answer, printed))
        finally:
            # A Ctrl-C meanwhile (the learners run in sessions of their own, so it reaches only us)
            # must not leave a hung learner behind.
            for learner in started:
                if not isinstance(learner, dict) and learner[0].poll() is None:
                    _kill(learner[0])
    return outcomes


def _interpreter_flags() -> list[str]:
    """The options that give the learner this interpreter's settings, which -I stops it reading from
    ``PYTHON*`` variables, and ``-B`` always.

    No bytecode is ever written next to a provider: a ``__pycache__`` made in a folder discovery
    watches would change it, so the next call would scan and learn again (once more after each
    install of a package that has none yet, an editable one for instance).
    """
    flags = ["-B"]
    flags += ["-O"] * sys.flags.optimize
    if sys.flags.utf8_mode:
        flags += ["-X", "utf8"]
    for option in sys.warnoptions:
        flags += ["-W", option]
    return flags


def _text_entries(path: Sequence[object]) -> list[str]:
    """The entries of ``path`` as text: str and path-like ones; importlib skips the others too."""
    entries = []
    for entry in path:
        if isinstance(entry, os.PathLike):
            entry = os.fspath(entry)
        if isinstance(entry, str):
            entries.append(entry)
    return entries


def _kill(process: Any) -> None:
    import signal

    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except OSError:
        pass
    process.wait()  # no pipes, so a grandchild outside the group cannot keep this waiting


def _end_of(path: str) -> str:
    """The last ``_OUTPUT_KEPT`` bytes of what a learning process printed, as text."""
    try:
        with open(path, "rb") as stream:
            stream.seek(max(0, os.fstat(stream.fileno()).st_size - _OUTPUT_KEPT))
            return stream.read(_OUTPUT_KEPT).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _outcome(code: int, answer: str, printed: str) -> dict[str, Any]:
    """The outcome a finished learning process wrote, or the error saying why there is none."""
    try:
        with open(answer, "rb") as stream:
            data = stream.read(ANSWER_LIMIT + 1)
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        return failed(f"its answer cannot be read: {exc}")
    if len(data) > ANSWER_LIMIT:
        return failed(
            f"its answer is larger than {ANSWER_LIMIT} bytes (the limit); make the provider list less"
        )
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = _last_line(printed)
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


def _last_line(printed: str) -> str:
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
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
    names = getattr(provider, "environment", ())
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        return failed(f"the provider's environment must be a sequence of variable names, not {names!r:.100}")
    # The values its answer depends on: a cached answer is learned again once one changes.
    environment = {name: os.environ.get(name) for name in names}
    items: list[dict[str, Any]] = []
    try:
        iterator = iter(provider.provided())
    except BaseException as exc:  # the provider's own failure, whatever it is (issue 8)
        return failed(f"provided() raised {describe_exception(exc)}")
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return {"provided": items, "environment": environment}
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

    Everything the provider prints goes to stderr; stdout (or ``--answer-file``) carries the answer
    alone. The process ends with ``os._exit``, so threads or exit handlers an SDK left behind cannot
    keep it alive.
    """
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {LEARNER_MODULE}", description=main.__doc__)
    parser.add_argument("--sys-path", help="the sys.path to import the provider with, as a JSON list")
    parser.add_argument("--answer-file", help="write the answer to this file instead of stdout")
    parser.add_argument("name", help="the provider's entry-point name")
    parser.add_argument("target", nargs="?", help="its module:attr (default: the installed entry point's)")
    arguments = parser.parse_args(argv)
    if arguments.sys_path is not None:
        sys.path[:] = [str(entry) for entry in json.loads(arguments.sys_path)]  # exactly (issue 11)
    target = arguments.target or _installed_target(arguments.name)
    sys.stdout.flush()
    if arguments.answer_file is not None:
        answer = os.open(arguments.answer_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    else:
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
