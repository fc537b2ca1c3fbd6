"""Data is never code: the one place where values from files and users become text that a
browser, PyMOL or ChimeraX will interpret.

Why one module: a structure file is free text (a REMARK, an mmCIF chain id can hold
`</script>` or `;system ...`), and every export writes some of it into a page or a
script. Each context gets one function, and every value goes through it:

- `script_json`: any value inside a `<script>` element (JSON with `<`, `>`, `&` and the
  JavaScript line separators escaped, so no text can close the element or open a comment);
- `html_text`: any value in HTML markup (`html.escape`);
- `script_data_uri`: a whole JavaScript library inlined as a `data:` URI, which no byte of
  it can break out of;
- `record_text`: free text written into a structure file (a PDB REMARK, an mmCIF value):
  printable ASCII without quotes, so it stays one record and one value;
- `viewer_chain_id`, `viewer_file_name`, `viewer_insertion_code`, `viewer_colour`: values
  written into PyMOL / ChimeraX commands are checked against what the formats allow
  (neither program has a quoting rule that holds for every separator), and refused with a
  message otherwise.
"""

from __future__ import annotations

import base64
import html
import json
import re

from .errors import InputError

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029]")

#: PDB chain ids are one character, mmCIF `auth_asym_id`s a few: letters and digits only.
_CHAIN_ID = re.compile(r"[A-Za-z0-9]{1,4}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
_INSERTION_CODE = re.compile(r"[A-Za-z]?")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_NOT_RECORD_TEXT = re.compile(r"[^ -~]|['\"]")


def script_json(value) -> str:
    """`value` as a JavaScript literal that is inert inside a `<script>` element."""
    text = json.dumps(value, allow_nan=False)
    return _SCRIPT_UNSAFE.sub(lambda m: _SCRIPT_ESCAPES[m.group(0)], text)


def html_text(value) -> str:
    """`value` as HTML text or attribute content."""
    return html.escape(str(value), quote=True)


def script_data_uri(javascript: str) -> str:
    """A `data:` URI holding `javascript`, for `<script src=...>` (works from disk, offline)."""
    return "data:text/javascript;base64," + base64.b64encode(javascript.encode("utf-8")).decode("ascii")


def record_text(value, limit: int = 200) -> str:
    """`value` as one line of printable ASCII (no quotes), at most `limit` characters."""
    return _NOT_RECORD_TEXT.sub("_", str(value))[:limit]


def viewer_chain_id(chain_id: str) -> str:
    """A chain id safe to write into a PyMOL / ChimeraX command, or InputError."""
    if not _CHAIN_ID.fullmatch(str(chain_id)):
        raise InputError(
            f"Chain id {str(chain_id)[:40]!r} cannot be written into a PyMOL or ChimeraX script: chain ids "
            "there must be 1-4 letters or digits. Use the 3D view (.html) or the B-factor file instead."
        )
    return str(chain_id)


def viewer_insertion_code(code: str) -> str:
    """An insertion code (one letter, or none) safe for a viewer command, or InputError."""
    if not _INSERTION_CODE.fullmatch(str(code)):
        raise InputError(f"Insertion code {str(code)[:20]!r} is not a single letter; it cannot go into a script.")
    return str(code)


def viewer_file_name(name: str) -> str:
    """A bare file name (no folder, no separators) safe for a viewer's `load`/`open`, or InputError."""
    if not _FILE_NAME.fullmatch(str(name)):
        raise InputError(
            f"File name {str(name)[:60]!r} cannot be written into a PyMOL or ChimeraX script: use letters, "
            "digits, '_', '-' and '.', with no folder and no spaces (rename the file)."
        )
    return str(name)


def viewer_colour(colour: str) -> str:
    """A '#rrggbb' colour, or InputError."""
    if not _COLOUR.fullmatch(str(colour)):
        raise InputError(f"Colour {str(colour)[:20]!r} is not of the form #rrggbb.")
    return str(colour)
