"""Calls whose answer cannot change in this process become constants when templates compile.

`{{ _("Sign in") }}`, `lang_url("/account")` (when URLs carry no language),
`static_url("css/bundle.css")` (in prod, where assets never change) and `html_lang()` give
the same text on every render in one language. Each was a `Context.call` per render, and
a page makes a dozen; folded, they cost nothing. Templates are compiled once per language
(see `Templates`), so a folded translation is always the page's own language.

Folding rewrites the parsed template, so it sees Jinja's scopes: a call is folded only when
no `set`, loop, `with`, macro or call-block parameter, import or block assignment in a scope
that can reach it binds the same name. Only the literal form is folded: at most one string
argument and keywords with string values (`_("Built with %(url)s", url="https://...")`,
under autoescape only), the callee being the name itself (not an attribute). Anything else
(`_("%(n)s items", n=n)`, `lang_url(path)`) runs as before.

Names one template binds can reach another's: an `{% include %}` or `import ... with
context` sees the includer's locals, and a parent template sees its child's top-level `set`.
Where a folded name is bound around one of those, the other template is loaded unfolded.
What a compiled template cannot know stays its caller's concern: `Templates` sends renders
whose context binds a folded name to its unfolded environment, and a base template must not
bind one around (or at the top level above) the blocks its children fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

Folder = Callable[..., str | None]
"""Given the call's literal arguments, the constant it stands for; None to leave the call.
A `Markup` answer is newstyle gettext's: markup under autoescape, plain text without."""

IMPLICIT = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})
"""Names Jinja binds by itself in loops, macros and blocks: never folded."""

SCOPES = (nodes.For, nodes.With, nodes.Macro, nodes.CallBlock, nodes.Block)
"""Statements whose assignments stay inside them (Jinja runs blocks, macros and call
bodies as functions, and loop and `with` bodies in their own frame)."""


class FoldingEnvironment(jinja2.Environment):
    """An environment that folds `folders`' literal calls in every template it compiles."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folders: dict[str, Folder] = {}
        self.unfolded: jinja2.Environment | None = None

    def without_folding(self) -> jinja2.Environment:
        """The same templates compiled without folding, for those that see others' names."""
        if self.unfolded is None:
            plain = self.overlay()
            plain.folders = {}
            self.unfolded = plain
        return self.unfolded

    def compile(
        self,
        source: str | nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        """Parse, fold, then let Jinja generate code from the folded tree."""
        text = None
        if self.folders:
            text = source if isinstance(source, str) else None
            tree = self.parse(source, name, filename) if isinstance(source, str) else source
            source = fold(tree, self.folders, nodes.EvalContext(self, name), name)
        try:
            if raw:
                return super().compile(source, name, filename, True, defer_init)
            return super().compile(source, name, filename, False, defer_init)
        except jinja2.TemplateSyntaxError as error:
            if error.source is None:  # Jinja had only the folded tree: show the line again
                error.source = text
            raise


def fold(
    tree: nodes.Template,
    folders: dict[str, Folder],
    eval_ctx: nodes.EvalContext,
    name: str | None = None,
) -> Any:
    """`tree` with each literal call of an unshadowed folder's name made a constant."""
    dynamic = (nodes.OverlayScope, nodes.EvalContextModifier)
    if any(type(node) in dynamic for node in tree.find_all(dynamic)):
        return tree  # names or autoescape decided at render time: fold nothing
    return _Folding(folders, eval_ctx, name).visit(tree)


@jinja2.pass_environment
def unfolded_template(environment: jinja2.Environment, template: Any, parent: str | None) -> Any:
    """What `{% include template %}` (or import, extends) loads, compiled without folding."""
    if isinstance(environment, FoldingEnvironment):
        environment = environment.without_folding()
    return environment.get_or_select_template(template, parent)


class _Folding(NodeTransformer):
    """Replaces calls while tracking the names bound in the scopes around them."""

    def __init__(
        self, folders: dict[str, Folder], eval_ctx: nodes.EvalContext, name: str | None
    ) -> None:
        self.folders = folders
        self.name = name
        self.environment = eval_ctx.environment
        self.autoescape: bool | None = bool(eval_ctx.autoescape)
        self.shadowed: frozenset[str] = IMPLICIT
        self.stored: frozenset[str] = frozenset()
        self.joined = 0

    def _scope(
        self, node: nodes.Node, inner: tuple[str, ...], names: Iterable[str], *, outer: str = ""
    ) -> nodes.Node:
        """Visit `node`'s `inner` fields as a scope binding `names` (and its own stores),
        and its `outer` field as part of the enclosing scope (as Jinja evaluates it)."""
        if outer:
            self._field(node, outer)
        saved = self.shadowed, self.stored
        self.shadowed = self.shadowed.union(names)
        self.stored = frozenset(bound(node.iter_child_nodes(exclude=(outer,)), deep=True))
        try:
            for field in inner:
                self._field(node, field)
        finally:
            self.shadowed, self.stored = saved
        return node

    def _field(self, node: nodes.Node, field: str) -> None:
        value = getattr(node, field)
        if isinstance(value, list):
            setattr(node, field, [self.visit(item) for item in value])
        elif value is not None:
            setattr(node, field, self.visit(value))

    def visit_Template(self, node: nodes.Template) -> nodes.Node:
        return self._scope(node, ("body",), bound(node.body))

    def visit_For(self, node: nodes.For) -> nodes.Node:
        names = targets(node.target) | bound([*node.body, *node.else_])
        return self._scope(node, ("target", "body", "else_", "test"), names, outer="iter")

    def visit_With(self, node: nodes.With) -> nodes.Node:
        names = set().union(*(targets(target) for target in node.targets)) | bound(node.body)
        return self._scope(node, ("targets", "body"), names, outer="values")

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        names = {arg.name for arg in node.args} | bound(node.body)
        return self._scope(node, ("args", "defaults", "body"), names)

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        names = {arg.name for arg in node.args} | bound(node.body)
        return self._scope(node, ("args", "defaults", "body"), names, outer="call")

    def visit_Block(self, node: nodes.Block) -> nodes.Node:
        return self._scope(node, ("body",), bound(node.body))

    def visit_Include(self, node: nodes.Include) -> nodes.Node:
        return self._loaded_unfolded(node) if node.with_context else self.generic_visit(node)

    def visit_Import(self, node: nodes.Import) -> nodes.Node:
        return self._loaded_unfolded(node) if node.with_context else self.generic_visit(node)

    def visit_FromImport(self, node: nodes.FromImport) -> nodes.Node:
        return self._loaded_unfolded(node) if node.with_context else self.generic_visit(node)

    def visit_Extends(self, node: nodes.Extends) -> nodes.Node:
        return self._loaded_unfolded(node)

    def _loaded_unfolded(
        self, node: nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends
    ) -> nodes.Node:
        """The other template sees this one's names: if they rebind a folded name, it is
        loaded unfolded (Jinja takes a `Template` where it takes a template's name)."""
        visited: nodes.Node = self.generic_visit(node)
        if not (self.shadowed - IMPLICIT).isdisjoint(self.folders):
            loader = nodes.ImportedName(f"{__name__}.unfolded_template")
            parent = nodes.Const(self.name)
            node.template = nodes.Call(loader, [node.template, parent], [], None, None)
            node.template.set_lineno(node.lineno).set_environment(self.environment)
        return visited

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """Jinja's optimizer joins constant `a ~ b` as text, dropping a `Markup` part's
        safety (at render time it would be kept): markup is not folded inside."""
        self.joined += 1
        try:
            result: nodes.Node = self.generic_visit(node)
        finally:
            self.joined -= 1
        return result

    def visit_ScopedEvalContextModifier(self, node: nodes.ScopedEvalContextModifier) -> Any:
        saved = self.autoescape
        for option in node.options:
            if option.key == "autoescape":
                value = option.value
                self.autoescape = bool(value.value) if isinstance(value, nodes.Const) else None
        try:
            return self.generic_visit(node)
        finally:
            self.autoescape = saved

    def visit_Call(self, call: nodes.Call) -> nodes.Node:
        node: nodes.Node = self.generic_visit(call)
        if not isinstance(node, nodes.Call):
            return node
        callee = node.node
        if not (
            isinstance(callee, nodes.Name)
            and callee.ctx == "load"
            and callee.name in self.folders
            and callee.name not in self.shadowed
            and callee.name not in self.stored
            and self.autoescape is not None
            and (self.autoescape or not node.kwargs)  # unescaped variables: left to Jinja
            and node.dyn_args is None
            and node.dyn_kwargs is None
            and len(node.args) <= 1
            and all(_text(arg) for arg in node.args)
            and all(_text(keyword.value) for keyword in node.kwargs)
        ):
            return node
        args = [arg.as_const() for arg in node.args]
        kwargs = {keyword.key: keyword.value.as_const() for keyword in node.kwargs}
        try:
            value = self.folders[callee.name](*args, **kwargs)
        except Exception:  # the call fails (or not) at render time, as unfolded
            return node
        if value is None:
            return node
        if isinstance(value, Markup):
            if not self.autoescape:
                value = str(value)
            elif self.joined:
                return node
        constant = nodes.Const(value, lineno=node.lineno)
        constant.set_environment(self.environment)
        return constant


def _text(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and type(node.value) is str


def bound(body: Iterable[nodes.Node], *, deep: bool = False) -> set[str]:
    """Names a scope's statements assign, import or define a macro as, nested statements
    included unless they are scopes of their own (whose bindings their visit adds).

    `deep` also looks inside nested scopes (but not blocks, which start afresh): Jinja
    starts a name assigned in a nested frame as the enclosing frame's variable when that
    frame uses the name, as undefined otherwise, so removing a use would change it."""
    names: set[str] = set()
    pending = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, nodes.Assign | nodes.AssignBlock):
            names |= targets(node.target)
        elif isinstance(node, nodes.Import):
            names.add(node.target)
        elif isinstance(node, nodes.FromImport):
            names.update(name if isinstance(name, str) else name[1] for name in node.names)
        elif isinstance(node, nodes.Macro):
            names.add(node.name)
        elif deep and isinstance(node, nodes.With):
            names.update(*(targets(target) for target in node.targets))
        if not isinstance(node, nodes.Block if deep else SCOPES):
            pending.extend(node.iter_child_nodes())
    return names


def targets(target: nodes.Node) -> set[str]:
    """The names an assignment target stores (`a`, `a, b`); `ns.attr` binds none."""
    found = [target, *target.find_all(nodes.Name)]
    return {node.name for node in found if isinstance(node, nodes.Name)}


GETTEXT_PARAMETERS = frozenset({"eval_ctx", "message"})
"""The names newstyle gettext takes itself: no variable can be called so."""


def fold_markup(translate: Callable[[str], str]) -> Folder:
    """`_("text", name="value")`: newstyle gettext's result under autoescape, the text
    trusted like the template and the values escaped."""

    def fold(message: str, /, **variables: str) -> str | None:
        if not GETTEXT_PARAMETERS.isdisjoint(variables):
            return None  # a TypeError at render time, as unfolded
        text = Markup(translate(message))  # noqa: S704
        return text % variables if variables or "%" in text else text

    return fold


def fold_text(compute: Callable[..., str]) -> Folder:
    def fold(*args: Any) -> str:
        return str(compute(*args))

    return fold
