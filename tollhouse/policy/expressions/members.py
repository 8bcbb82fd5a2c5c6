"""Compiling member access, calls, indexers, ``?.``, ``new`` and lambdas.

A member of a value whose static type is known is looked up in that
type's table now; an unknown name is a load-time error.  Otherwise the
lookup is left to `dispatch` at run time.  Names that reflection, I/O or
private state would need (``GetType``, ``_anything``) are refused whatever
the receiver.
"""

from __future__ import annotations

from collections.abc import Callable

from . import dispatch
from . import syntax as s
from .compiler import Code, Compiled, Expressions, Scope
from .library import ANONYMOUS, FORBIDDEN_MEMBERS, NAMESPACES, VOID, Library
from .operators import type_name
from .runtime import Evaluation, Lambda, fail, null_reference
from .types import AnonymousObject, CsType, Method, Property

LAMBDAS_ONLY_AS_ARGUMENTS = (
    "lambdas are only supported as arguments to LINQ methods "
    "such as Where, Select and Any"
)
_ROOTS = frozenset(name.split(".")[0] for name in NAMESPACES)


def dotted_path(node: s.Expr) -> list[tuple[str, int]] | None:
    """Names and offsets of a plain dotted name (``System.Text.Encoding``)."""
    parts: list[tuple[str, int]] = []
    while isinstance(node, s.Member) and not node.type_args:
        parts.append((node.name, node.name_offset))
        node = node.target
    if not isinstance(node, s.Name):
        return None
    parts.append((node.name, node.offset))
    return parts[::-1]


def dotted_parts(node: s.Expr) -> list[str] | None:
    """``["System", "Text", "Encoding"]`` for a plain dotted name, else None."""
    path = dotted_path(node)
    return [name for name, _ in path] if path is not None else None


class Members(Expressions):
    """Member access and calls."""

    def check_member_name(self, name: str, node: s.Node) -> None:
        if name.startswith("_"):
            raise self.error(f"'{name}' is not accessible in policy expressions", node)
        if name in FORBIDDEN_MEMBERS:
            raise self.error(FORBIDDEN_MEMBERS[name], node)

    def static_type(self, node: s.Expr) -> CsType | None:
        """The type a dotted name means, unless a local or ``context`` starts it."""
        parts = dotted_parts(node)
        if parts is None or parts[0] == "context" or self.scope.find(parts[0]):
            return None
        refused = self.library.refused_at(parts)
        if refused:
            path = dotted_path(node)
            assert path is not None
            raise self.error(refused[1], path[refused[0]][1])
        found = self._dotted_type(parts)
        if found is not None or parts[0] not in _ROOTS:
            return found
        dotted = ".".join(parts)
        prefixes = (self._dotted_type(parts[:end]) for end in range(1, len(parts)))
        if dotted not in NAMESPACES and not any(prefixes):
            raise self.error(f"'{dotted}' is not supported in policy expressions", node)
        return None

    def _dotted_type(self, parts: list[str]) -> CsType | None:
        found = self.library.named(".".join(parts))
        if found is None and len(parts) > 1 and ".".join(parts[:-1]) in NAMESPACES:
            found = self.library.named(parts[-1])
        return found

    def _no_namespace(self, node: s.Expr) -> None:
        parts = dotted_parts(node)
        if parts and ".".join(parts) in NAMESPACES and not self.scope.find(parts[0]):
            raise self.error(f"'{'.'.join(parts)}' is a namespace, not a value", node)

    # Properties

    def _member(self, node: s.Member) -> Compiled:
        self._no_namespace(node)
        owner = self.static_type(node.target)
        target = self.expr(node.target) if owner is None else None
        self.check_member_name(node.name, node)
        if node.type_args:
            raise self.error(f"'{node.name}' is not a generic method call", node)
        if owner is not None:
            return self._static_property(owner, node)
        assert target is not None
        return self.property_of(target, node)

    def _static_property(self, owner: CsType, node: s.Member) -> Compiled:
        prop = owner.statics.get(node.name)
        if prop is None:
            raise self._missing(owner, node.name, node, static=True)
        get = prop.get
        return Compiled(lambda ev: get(None), self.library.spec(prop.type, owner, None))

    def _missing(
        self,
        owner: CsType,
        name: str,
        node: s.Node,
        *,
        static: bool,
        call: bool = False,
    ) -> Exception:
        methods = owner.static_methods if static else owner.methods
        props = owner.statics if static else owner.properties
        if not call and name in methods:
            return self.error(
                f"'{name}' is a method of '{owner.name}': call it with '()'", node
            )
        if call and name in props:
            return self.error(
                f"'{name}' is a property of '{owner.name}', not a method", node
            )
        return self.error(
            f"'{name}' is not a member of '{owner.name}' in policy expressions", node
        )

    def property_of(self, target: Compiled, node: s.Member) -> Compiled:
        name, code = node.name, target.code
        if not target.known:
            library = self.library

            def dynamic(ev: Evaluation) -> object:
                value = code(ev)
                if value is None:
                    null_reference(f"reading '{name}'")
                return dispatch.property_of(library, value, name)

            return Compiled(dynamic)
        assert target.type is not None
        prop = target.type.properties.get(name)
        if prop is None:
            raise self._missing(target.type, name, node, static=False)
        get, test, library = prop.get, target.type.test, self.library

        def run(ev: Evaluation) -> object:
            value = code(ev)
            if value is None:
                null_reference(f"reading '{name}'")
            if test(value):
                return get(value)
            return dispatch.property_of(library, value, name)

        return Compiled(run, self.library.spec(prop.type, target.type, None))

    # Calls

    def _call(self, node: s.Call) -> Compiled:
        target = node.target
        if isinstance(target, s.Name):
            refused = self.library.refusal([target.name])
            if refused:
                raise self.error(refused, target)
            raise self.error(f"unknown method '{target.name}'", target)
        if not isinstance(target, s.Member):
            raise self.error("this expression cannot be called", node)
        owner = self.static_type(target.target)
        if owner is not None:
            self.check_member_name(target.name, target)
            method = owner.static_methods.get(target.name)
            if method is None:
                raise self._missing(owner, target.name, target, static=True, call=True)
            return self.invoke(
                method, None, target.name, target.type_args, node.args, target
            )
        receiver = self.expr(target.target)
        self.check_member_name(target.name, target)
        if not receiver.known:
            return self._dynamic_call(receiver, target, node)
        assert receiver.type is not None
        method = receiver.type.methods.get(target.name)
        if method is None:
            raise self._missing(
                receiver.type, target.name, target, static=False, call=True
            )
        return self.invoke(
            method, receiver, target.name, target.type_args, node.args, target
        )

    def type_argument(self, type_args: list[s.TypeName], node: s.Node) -> CsType | None:
        if len(type_args) > 1:
            raise self.error("only one type argument is supported", node)
        return self.resolve_type(type_args[0]) if type_args else None

    def invoke(
        self,
        method: Method,
        receiver: Compiled | None,
        name: str,
        type_args: list[s.TypeName],
        arguments: list[s.Argument],
        node: s.Node,
    ) -> Compiled:
        """A call of a method known now: arguments checked, result typed."""
        type_arg = self.type_argument(type_args, node)
        if type_arg is not None and not method.generic:
            raise self.error(f"'{name}' does not take a type argument", node)
        element = (
            receiver.type.element if receiver is not None and receiver.type else None
        )
        out: s.OutVariable | None = None
        if method.out is not None and arguments:
            last = arguments[-1].value
            if isinstance(last, s.OutVariable) and arguments[-1].name is None:
                out, arguments = last, arguments[:-1]
        for argument in arguments:
            if isinstance(argument.value, s.OutVariable):
                raise self.error(f"'{name}' takes no 'out' argument here", argument)
        if method.out is not None and out is None:
            raise self.error(
                f"'{name}' needs a last 'out' argument: '{name}(out var result)'",
                node,
            )
        args = self._arguments(method, name, arguments, element, node)
        if not method.accepts(len(args)):
            raise self.error(f"'{name}' does not take {len(args)} arguments", node)
        if method.check is not None:
            check, constants = method.check, [a.constant for a in args]
            self.run_check(lambda: check(type_arg, constants), node)
        receiver_type = receiver.type if receiver else None
        returns = self.library.spec(method.returns, receiver_type, type_arg)
        call = _Call(method, name, [a.code for a in args], type_arg, self.library)
        code: Code
        if receiver is None or receiver_type is None:
            code = call.static
        else:
            code = call.on(receiver.code, receiver_type.test)
        if out is not None:
            code = self._out_result(code, out, method, receiver_type, type_arg)
        return Compiled(code, returns)

    def _out_result(
        self,
        code: Code,
        out: s.OutVariable,
        method: Method,
        receiver: CsType | None,
        type_arg: CsType | None,
    ) -> Code:
        """A call returning (result, out value): store the value, give the result."""
        produced = self.library.spec(method.out, receiver, type_arg)
        if out.name == "_" and out.declared:
            return lambda ev: _pair(code(ev))[0]
        if not out.declared:
            local = self.assignable_local(s.Name(out.offset, out.name))
            slot = local.slot
        else:
            declared = self.resolve_type(out.type) if out.type is not None else None
            slot = self.declare(out.name, declared or produced, out)

        def run(ev: Evaluation) -> object:
            result, value = _pair(code(ev))
            ev.slots[slot] = value
            return result

        return run

    def _dynamic_out(self, node: s.Call) -> None:
        for argument in node.args:
            if isinstance(argument.value, s.OutVariable):
                raise self.error(
                    "an 'out' argument needs a receiver whose type is known when "
                    "the policy loads: cast it, as in "
                    "'((string)value).TryParseJwt(out var jwt)'",
                    argument,
                )

    def _outvariable(self, node: s.OutVariable) -> Compiled:
        raise self.error("'out' is only supported in an argument", node)

    def _arguments(
        self,
        method: Method,
        name: str,
        arguments: list[s.Argument],
        element: CsType | None,
        node: s.Node,
    ) -> list[Compiled]:
        compiled = [
            self._argument(arg.value, method.lambdas, element) for arg in arguments
        ]
        names = [arg.name for arg in arguments]
        if not any(names):
            return compiled
        positional = [c for c, n in zip(compiled, names, strict=True) if n is None]
        placed: dict[int, Compiled] = {}
        for value, arg_name, arg in zip(compiled, names, arguments, strict=True):
            if arg_name is None:
                continue
            if arg_name not in method.params:
                raise self.error(f"'{name}' has no parameter named '{arg_name}'", arg)
            placed[method.params.index(arg_name)] = value
        for index in sorted(placed):
            if index != len(positional):
                raise self.error(
                    f"argument '{method.params[len(positional)]}' "
                    f"of '{name}' must be given",
                    node,
                )
            positional.append(placed[index])
        return positional

    def _argument(
        self, value: s.Expr, lambdas: bool, element: CsType | None
    ) -> Compiled:
        if isinstance(value, s.Lambda):
            if not lambdas:
                raise self.error(
                    LAMBDAS_ONLY_AS_ARGUMENTS,
                    value,
                )
            return self.compile_lambda(value, element)
        if lambdas and isinstance(value, s.Member):
            group = self._method_group(value)
            if group is not None:
                return group
        return self.expr(value)

    def _dynamic_call(
        self, receiver: Compiled, target: s.Member, node: s.Call
    ) -> Compiled:
        self._dynamic_out(node)
        name, rcode, library = target.name, receiver.code, self.library
        type_arg = self.type_argument(target.type_args, target)
        codes = [self._argument(arg.value, True, None).code for arg in node.args]
        names = [arg.name for arg in node.args]

        def run(ev: Evaluation) -> object:
            value = rcode(ev)
            if value is None:
                null_reference(f"calling '{name}'")
            values = [code(ev) for code in codes]
            ev.tick()
            method = dispatch.method_of(library, value, name)
            args = dispatch.ordered(method, name, values, names)
            result = dispatch.call(ev, method, name, value, args, type_arg)
            if type(result) is str:
                ev.charge(len(result))
            return result

        return Compiled(run)

    def _method_group(self, node: s.Member) -> Compiled | None:
        """``char.IsDigit`` passed where a lambda is expected."""
        owner = self.static_type(node.target)
        method = owner.static_methods.get(node.name) if owner is not None else None
        if method is None:
            return None
        call = method.call

        def run(ev: Evaluation) -> object:
            def group(*args: object) -> object:
                ev.tick()
                return call(ev, *args) if method.budget else call(*args)

            return group

        return Compiled(run)

    # Indexers

    def _index(self, node: s.Index) -> Compiled:
        if len(node.args) != 1:
            raise self.error("only indexers with one argument are supported", node)
        target, key = self.expr(node.target), self.expr(node.args[0])
        tcode, kcode = target.code, key.code
        if not target.known:
            library = self.library

            def dynamic(ev: Evaluation) -> object:
                value = tcode(ev)
                if value is None:
                    null_reference("indexing")
                return dispatch.indexer_of(library, value).get(value, kcode(ev))

            return Compiled(dynamic)
        assert target.type is not None
        indexer = target.type.indexer
        if indexer is None:
            raise self.error(
                "cannot apply indexing with [] to a value of type "
                f"'{target.type.name}'",
                node,
            )
        get, test, library = indexer.get, target.type.test, self.library

        def run(ev: Evaluation) -> object:
            value = tcode(ev)
            if value is None:
                null_reference("indexing")
            if test(value):
                return get(value, kcode(ev))
            return dispatch.indexer_of(library, value).get(value, kcode(ev))

        return Compiled(run, self.library.spec(indexer.returns, target.type, None))

    def assign_index(self, node: s.Assign) -> Compiled:
        """``obj["key"] = value`` and its compound forms."""
        index = node.target
        assert isinstance(index, s.Index)
        if len(index.args) != 1:
            raise self.error("only indexers with one argument are supported", index)
        target, key = self.expr(index.target), self.expr(index.args[0])
        setter = self._setter(target, index)
        tcode, kcode = target.code, key.code
        holder, key_slot = self.new_slot(), self.new_slot()
        value = self.expr(node.value)
        if node.op != "=":
            getter = self._index_getter(target)
            current = Compiled(lambda ev: getter(ev.slots[holder], ev.slots[key_slot]))
            if node.op == "??=":
                value = self._or_else(current, value)
            else:
                value = self._apply(node.op[:-1], current, value, node)
        vcode = value.code

        def run(ev: Evaluation) -> object:
            obj = tcode(ev)
            if obj is None:
                null_reference("indexing")
            key_value = kcode(ev)
            ev.slots[holder], ev.slots[key_slot] = obj, key_value
            result = vcode(ev)
            setter(ev, obj, key_value, result)
            return result

        return Compiled(run, value.type)

    def _or_else(self, current: Compiled, value: Compiled) -> Compiled:
        ccode, vcode = current.code, value.code

        def run(ev: Evaluation) -> object:
            found = ccode(ev)
            return vcode(ev) if found is None else found

        return Compiled(run, value.type)

    def _setter(
        self, target: Compiled, node: s.Node
    ) -> Callable[[Evaluation, object, object, object], None]:
        library = self.library

        def dynamic(ev: Evaluation, obj: object, key: object, value: object) -> None:
            indexer = dispatch.indexer_of(library, obj)
            if indexer.set is None:
                fail(f"the indexer of '{type_name(obj)}' is read-only")
            indexer.set(ev, obj, key, value)

        if not target.known:
            return dynamic
        assert target.type is not None
        indexer = target.type.indexer
        if indexer is None or indexer.set is None:
            raise self.error(f"the indexer of '{target.type.name}' is read-only", node)
        setter, test = indexer.set, target.type.test

        def run(ev: Evaluation, obj: object, key: object, value: object) -> None:
            (setter if test(obj) else dynamic)(ev, obj, key, value)

        return run

    def _index_getter(self, target: Compiled) -> Callable[[object, object], object]:
        library = self.library

        def dynamic(obj: object, key: object) -> object:
            return dispatch.indexer_of(library, obj).get(obj, key)

        if not target.known or target.type is None or target.type.indexer is None:
            return dynamic
        getter, test = target.type.indexer.get, target.type.test
        return lambda obj, key: getter(obj, key) if test(obj) else dynamic(obj, key)

    # ?. and ?[

    def _conditionalaccess(self, node: s.ConditionalAccess) -> Compiled:
        target = self.expr(node.target)
        slot = self.new_slot()
        self.bindings.append((slot, target.type))
        try:
            access = self.expr(node.access, void=True)
        finally:
            self.bindings.pop()
        tcode, acode = target.code, access.code

        def run(ev: Evaluation) -> object:
            value = tcode(ev)
            if value is None:
                return None
            ev.slots[slot] = value
            return acode(ev)

        result = access.type
        if result is not None and not result.can_be_null and result is not VOID:
            result = result.variant(name=result.name + "?", nullable=True)
        return Compiled(run, result)

    def _binding(self, node: s.Binding) -> Compiled:
        slot, bound = self.bindings[-1]
        return Compiled(lambda ev: ev.slots[slot], bound)

    # Lambdas

    def _lambda(self, node: s.Lambda) -> Compiled:
        raise self.error(
            LAMBDAS_ONLY_AS_ARGUMENTS,
            node,
        )

    def compile_lambda(self, node: s.Lambda, element: CsType | None) -> Compiled:
        outer = self.scope
        self.scope = Scope(outer)
        try:
            slots = tuple(
                self.declare(p, element if i == 0 else None, node)
                for i, p in enumerate(node.params)
            )
            body = self.expr(node.body).code
        finally:
            self.scope = outer
        return Compiled(lambda ev: Lambda(ev, slots, body))

    # new

    def _new(self, node: s.New) -> Compiled:
        target = self.resolve_type(node.type)
        if target.constructor is None:
            raise self.error(
                f"'{target.name}' cannot be created with 'new' in policy expressions",
                node,
            )
        created = self.invoke(
            target.constructor, None, target.name, [], node.args, node
        )
        return Compiled(created.code, target)

    def _newanonymous(self, node: s.NewAnonymous) -> Compiled:
        names = tuple(node.names)
        for i, name in enumerate(names):
            self.check_member_name(name, node)
            if name in names[:i]:
                raise self.error(
                    f"an anonymous type cannot have two members named '{name}'", node
                )
        values = [self.expr(v) for v in node.values]
        codes = [v.code for v in values]
        props = {
            name: Property(_field(i), value.type)
            for i, (name, value) in enumerate(zip(names, values, strict=True))
        }
        cs_type = ANONYMOUS.variant(properties=props, test=_anonymous_test(names))
        return Compiled(
            lambda ev: AnonymousObject(names, [code(ev) for code in codes]), cs_type
        )

    def _newarray(self, node: s.NewArray) -> Compiled:
        items = [self.expr(item) for item in node.items]
        if node.element is not None:
            element: CsType | None = self.resolve_type(node.element)
            items = [
                self.converted(item, element, item_node)
                for item, item_node in zip(items, node.items, strict=True)
            ]
        else:
            names = {item.type.name for item in items if item.type is not None}
            element = items[0].type if len(names) == 1 and items else None
        codes: list[Code] = [item.code for item in items]

        def run(ev: Evaluation) -> object:
            values = [code(ev) for code in codes]
            ev.charge(len(values))
            return values

        return Compiled(run, self.library.array_of(element))


def _pair(value: object) -> tuple[object, object]:
    assert isinstance(value, tuple)
    return value[0], value[1]


def _anonymous_test(names: tuple[str, ...]) -> Callable[[object], bool]:
    return lambda value: isinstance(value, AnonymousObject) and value.names == names


def _field(index: int) -> Callable[[AnonymousObject], object]:
    return lambda obj: obj.values[index]


class _Call:
    """The closures for a call of a method found when the policy loaded."""

    def __init__(
        self,
        method: Method,
        name: str,
        codes: list[Code],
        type_arg: CsType | None,
        library: Library,
    ) -> None:
        self.method = method
        self.name = name
        self.codes = codes
        self.type_arg = type_arg
        self.library = library

    def _lead(self, ev: Evaluation) -> list[object]:
        return [ev] if self.method.budget else []

    def static(self, ev: Evaluation) -> object:
        args = self._lead(ev)
        if self.method.generic:
            args.append(self.type_arg)
        args.extend([code(ev) for code in self.codes])
        ev.tick()
        return _charged(ev, self.method.call(*args))

    def on(self, receiver: Code, test: Callable[[object], bool]) -> Code:
        name, codes, type_arg = self.name, self.codes, self.type_arg
        method, library = self.method, self.library
        call, budget, generic = method.call, method.budget, method.generic

        def run(ev: Evaluation) -> object:
            value = receiver(ev)
            if value is None:
                null_reference(f"calling '{name}'")
            values = [code(ev) for code in codes]
            ev.tick()
            if not test(value):
                # The value is not of the type the compiler saw: look again.
                found = dispatch.method_of(library, value, name)
                result = dispatch.call(ev, found, name, value, values, type_arg)
                return _charged(ev, result)
            lead: list[object] = [ev, value] if budget else [value]
            if generic:
                lead.append(type_arg)
            return _charged(ev, call(*lead, *values))

        return run


def _charged(ev: Evaluation, result: object) -> object:
    if type(result) is str:
        ev.charge(len(result))
    return result
