"""Named operations: `.graphql` files mapped to a method and a path by a header comment.

As Hasura's RESTified endpoints, but kept in files beside the code:

    # @rest POST /api/v1/auth/login      (required: method and path, `{var}` binds a variable)
    # @status 204                        (optional: the success status, default 200)
    # @tag auth                          (optional: the OpenAPI tag, default the path's noun)
    # Any other comment line becomes the operation's summary.
    mutation Login($email: String!, $password: String!) { login(...) { ... } }

Path parameters bind the variables of the same name; the other variables come from the
query string (GET, DELETE) or from the JSON body (a lone input-object variable is the
whole body, otherwise the body is an object of the variables).
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.rest.operation import OperationSpec

_DIRECTIVE = re.compile(r"^#\s*@(\w+)\s+(.*?)\s*$")
_COMMENT = re.compile(r"^#\s?(.*?)\s*$")


def parse_named(text: str, source: str) -> OperationSpec:
    """One `.graphql` file's route; raises ValueError when its header is incomplete."""
    method = path = tag = None
    status: int | None = None
    summary: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            if stripped:
                break
            continue
        directive = _DIRECTIVE.match(stripped)
        if directive is None:
            comment = _COMMENT.match(stripped)
            if comment and comment.group(1):
                summary.append(comment.group(1))
            continue
        name, value = directive.groups()
        if name == "rest":
            method, _, path = value.partition(" ")
            path = path.strip()
        elif name == "status":
            status = int(value)
        elif name == "tag":
            tag = value
        else:
            raise ValueError(f"{source}: unknown directive @{name}")
    if not method or not path or not path.startswith("/"):
        raise ValueError(f"{source}: needs a `# @rest METHOD /path` header")
    return OperationSpec(
        method.upper(),
        path,
        text,
        status=status,
        summary=" ".join(summary) or None,
        tag=tag,
        source=source,
    )


def load_named(folder: Path) -> list[OperationSpec]:
    """Every `*.graphql` file of a folder, in name order."""
    return [
        parse_named(path.read_text(encoding="utf-8"), path.name)
        for path in sorted(folder.glob("*.graphql"))
    ]
