"""The error of a failed journal operation: SQLite's failure turned into its cause and the fix."""

from __future__ import annotations

from pathlib import Path

from .._exceptions import JournalError
from .._settings import HOME_VARIABLE


def journal_error(journal: Path, busy_timeout: float, action: str, exc: Exception) -> JournalError:
    """The error for a failed SQLite operation, naming its cause and what to do about it."""
    import shlex

    path, quoted = str(journal), shlex.quote(str(journal))
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        message = (
            f"the job journal {path!r} is damaged or is not a job journal ({text}); move it aside "
            f"(`mv {quoted} {shlex.quote(path + '.broken')}`) and connector starts a new, empty one"
        )
    elif "readonly" in text:
        message = (
            f"the job journal {path!r} is read-only ({text}); make it and its directory writable "
            f"(`chmod u+w {quoted} {shlex.quote(str(journal.parent))}`), or point {HOME_VARIABLE} "
            "at a directory of your own"
        )
    elif "locked" in text:
        message = (
            f"the job journal {path!r} stayed locked by another process for {busy_timeout:g}s "
            f"({text}); try again once the other connector command has finished"
        )
    elif "full" in text:
        message = (
            f"cannot {action} the job journal {path!r}: the disk is full ({text}); free some space, "
            f"or point {HOME_VARIABLE} at another disk"
        )
    elif journal.exists() and not journal.is_file():
        message = (
            f"the job journal {path!r} is not a file ({text}); move it aside "
            f"(`mv {quoted} {shlex.quote(path + '.moved')}`), or point {HOME_VARIABLE} elsewhere"
        )
    elif not journal.parent.is_dir():
        message = (
            f"cannot {action} the job journal {path!r}: its directory does not exist or is not a "
            f"directory ({text}); point {HOME_VARIABLE} at a directory of your own"
        )
    else:
        # No cause known for sure: SQLite's own words, and the usual suspects.
        message = (
            f"cannot {action} the job journal {path!r} (SQLite: {text}); check that the file and "
            f"its directory are readable and writable by this user, or point {HOME_VARIABLE} "
            "at a directory of your own"
        )
    return JournalError(message, path=path)
