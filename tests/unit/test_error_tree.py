"""The documented UserError tree names every refusal a user can get, under its parent."""

from __future__ import annotations

import re

import domain.errors
from commands.core import build_registry
from domain.errors import UserError


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_user_error_is_in_the_documented_tree_under_its_parent() -> None:
    build_registry()  # imports every command module, and with them their errors
    doc = domain.errors.__doc__ or ""
    depth = {
        m.group(2): len(m.group(1))
        for m in re.finditer(r"^([ │├└─]*)(\w+)", doc, re.MULTILINE)
        if m.group(2)[0].isupper()
    }
    classes = _all_subclasses(UserError)
    missing = sorted(c.__name__ for c in classes if c.__name__ not in depth)
    assert not missing, f"not in the tree of domain/errors.py: {missing}"
    for cls in classes:
        parent = cls.__mro__[1].__name__
        assert depth[cls.__name__] > depth.get(parent, 0), (cls.__name__, parent)
