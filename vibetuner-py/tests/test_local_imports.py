"""An import inside a function says why it is there.

Only two reasons hold: an optional extra (`# s3 extra`) or a heavy dependency kept off a
startup path (`# beanie: kept off the CLI's startup`). Everything else belongs at the top of
the module. A run of imports with no blank line between them shares the first one's comment.
"""

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import vibetuner

PACKAGE = Path(vibetuner.__file__).parent
# Tool directives are not reasons: type-ignores, noqa codes, coverage pragmas.
DIRECTIVE = re.compile(
    r"type:\s*ignore(\[[^\]]*\])?"
    r"|noqa(:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)?"
    r"|pragma:\s*\S+"
)


def _reasons(source: str) -> dict[int, str]:
    """Each line's comment text, without tool directives."""
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = DIRECTIVE.sub("", token.string.lstrip("#")).strip(" #:()")
            if text:
                found[token.start[0]] = text
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _local_import_runs(tree: ast.Module) -> Iterator[list[ast.Import | ast.ImportFrom]]:
    """Runs of consecutive imports (no blank line between) inside functions."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[list[ast.Import | ast.ImportFrom]]:
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            run: list[ast.Import | ast.ImportFrom] = []
            for stmt in block:
                if in_function and isinstance(stmt, ast.Import | ast.ImportFrom):
                    if run and stmt.lineno != run[-1].end_lineno + 1:  # type: ignore[operator]
                        yield run
                        run = []
                    run.append(stmt)
                    continue
                if run:
                    yield run
                    run = []
                if isinstance(stmt, ast.If) and _is_type_checking(stmt):
                    continue
                inner = in_function or isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
                yield from visit(stmt, inner)
            if run:
                yield run

    yield from visit(tree, False)


def _uncommented(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    source = path.read_text(encoding="utf-8")
    reasons = _reasons(source)
    lines = source.splitlines()
    return [
        f"{path.relative_to(root)}:{stmt.lineno}: {lines[stmt.lineno - 1].strip()}"
        for run in _local_import_runs(ast.parse(source))
        if run[0].lineno not in reasons
        for stmt in run
    ]


def test_every_import_inside_a_function_says_why() -> None:
    missing = [line for path in sorted(PACKAGE.rglob("*.py")) for line in _uncommented(path)]
    assert not missing, (
        "Imports inside functions need a comment naming the optional extra or the heavy "
        "dependency they keep off a startup path (or move them to the top):\n" + "\n".join(missing)
    )


def test_the_check_sees_uncommented_and_covered_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import jinja2\n"
        "def f():\n"
        "    import beanie  # beanie: kept off the CLI's startup\n"
        "    import pymongo\n"
        "\n"
        "    import json\n"
        "    import yaml  # type: ignore[import-untyped]\n"
        "    class C:\n"
        "        def g(self):\n"
        "            if True:\n"
        "                import os\n"
    )
    found = [line.split(": ", 1)[1] for line in _uncommented(sample, tmp_path)]
    assert found == ["import json", "import yaml  # type: ignore[import-untyped]", "import os"]
