"""Secret files (password, pickle key, stored login, sealed identity) must be private.

Kept apart from bot.config so that every module that reads a secret file can use it
without import cycles.
"""

from __future__ import annotations

import stat
from pathlib import Path

from domain.text import Msg


def private_file_problem(path: Path) -> Msg | None:
    """Like ssh with a private key: a secret file must not be readable by group or others.

    None if the file is private (or does not exist: reading it reports that).
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & 0o077:
        return Msg(
            "%(path)s ist für Gruppe oder andere lesbar (Modus %(mode)s); "
            "Geheimnisse nur für den Bot-Benutzer: chmod 600 %(path)s",
            path=str(path),
            mode=format(stat.S_IMODE(mode), "04o"),
        )
    return None
