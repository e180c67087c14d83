"""The errors a user can cause and the exit codes the command line gives them (one style for every verb).

Every module's error for bad input (a file it cannot read, a value out of range, a folder it cannot write)
derives from :class:`UserError`; ``cli.main`` prints it as one line ``pixelsound VERB: error: MESSAGE`` and
exits with :data:`EXIT_INPUT`. An ``OSError`` (missing file, read-only folder, ``--out`` naming a file) is
worded by :func:`describe_os_error` and gets the same code. Nothing here imports the rest of the package.

Exit codes (also in ``pixelsound --help`` and the README):

    0    done
    1    bad input or an operating-system error: the message names the file and the reason
    2    bad command line (unknown option, missing or conflicting arguments)
    130  interrupted by Ctrl-C (128 + SIGINT); ``train`` saves its state first
    141  the output pipe was closed (128 + SIGPIPE), e.g. ``pixelsound score --json | head``
    143  terminated by SIGTERM (128 + SIGTERM); ``train`` saves its state first
"""

from __future__ import annotations

import errno
import os
import signal

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPT = 128 + signal.SIGINT
EXIT_PIPE = 128 + 13  # SIGPIPE (not defined on every platform's signal module)
EXIT_TERMINATED = 128 + signal.SIGTERM

EXIT_CODES = """exit codes:
  0    done
  1    bad input or an operating-system error (the message names the file and the reason)
  2    bad command line
  130  interrupted by Ctrl-C (train saves its state first)
  141  the output pipe was closed (e.g. `pixelsound score --json | head`)
  143  terminated by SIGTERM (train saves its state first)"""


class UserError(Exception):
    """Input the user can fix (a file, a folder, a value); the message names what and why, in one line."""


class UsageError(UserError):
    """A command line that cannot work (conflicting or out-of-range options): :data:`EXIT_USAGE`."""


class TrainError(UserError, RuntimeError):
    """Training cannot start or go on (:mod:`pixelsound.train`, :mod:`pixelsound.validation`); the message
    says why."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by the CLI's SIGTERM handler, so that clean-up runs as for Ctrl-C."""


_OS_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOSPC: "no space left on the device",
    errno.ENAMETOOLONG: "name too long",
}


def describe_os_error(err: OSError) -> str:
    """One line naming the path(s) of an ``OSError`` and the reason in plain words.

    >>> describe_os_error(FileNotFoundError(errno.ENOENT, "No such file or directory", "a.mp4"))
    'a.mp4: no such file or folder'
    """
    reason = (
        _OS_REASONS.get(err.errno or -1) or (err.strerror or "").lower() or str(err) or type(err).__name__
    )
    if err.errno == errno.EEXIST and err.filename is not None and os.path.isfile(err.filename):
        reason = "is a file; a folder is needed here"
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason
