"""Transfer functions of calls: helpers (checked through `verifier.helpers`), kfuncs, callx,
exit, and the call and return edges of inlined local functions (frames of r6-r9 and r10).
"""
from __future__ import annotations

from domains.linear import LinearExpression as E
from verifier import checks as C
from verifier import types as T
from verifier.stack import cell_name
from verifier.state import META_OFFSET, PACKET_SIZE, State, var


class CallSemantics:
    """Mixin of `verifier.semantics.Semantics`: helper and local calls, exit."""

    _many_functions: bool | None = None

    def _callx(self, st, pc, insn, spec, ch, depth) -> None:
        r = f"r{insn.dst}"
        C.check_init(ch, st, pc, insn.dst)
        if st.is_bottom() or st.type_of(r) == T.FUNC:
            return  # a function of the program: the call edges of the inlined graph
        if st.type_of(r) == T.NUMBER:
            helper = st.interval(r, "uvalue").singleton()
            if helper is not None and helper < 1 << 31 and not self._callx_targets():
                # a known helper id: exactly `call helper` (the runtime calls the helper too)
                from cfg import isa
                call = isa.Insn(isa.CLS_JMP | isa.JMP_CALL, src=isa.CALL_HELPER, imm=helper)
                self._call(st, pc, call, call.spec, ch, depth)
                return
            if helper is not None and self._callx_targets():
                ch.fail(pc, "invalid-call", f"callx through {r} (helper id {helper}) in a program "
                        f"with functions: its call edges lead to them, not to the helper")
            else:
                ch.fail(pc, "invalid-call", f"callx through {r}: the helper id is not one known "
                        f"value", f"`{r}.uvalue` in {st.interval(r, 'uvalue')}")
        else:
            ch.fail(pc, "invalid-call", f"callx through {r}, which is {T.name(st.type_of(r))}, "
                    f"neither a function nor a helper id")
        self._clobber(st)
        st.havoc("r0", T.NUMBER)

    def _callx_targets(self) -> bool:
        """Whether the program has functions besides the entry: the inlined graph then sends
        every callx along call edges into them (`cfg.graph`), so a helper id cannot be modelled."""
        if self._many_functions is None:
            from cfg.graph import functions
            self._many_functions = len(functions(self.program)) > 1
        return self._many_functions

    def _call(self, st, pc, insn, spec, ch, depth) -> None:
        if spec.op == "local":
            return  # handled by the call and return edges of the inlined graph
        if spec.op == "kfunc":
            ch.fail(pc, "invalid-call", f"call to kfunc (BTF id {insn.imm}) is not supported")
            self._clobber(st)
            st.havoc("r0", T.NUMBER)
            return
        helpers = getattr(self.platform, "helpers", {})
        own = getattr(self.ptype, "own_helper", None)
        proto = (own(insn.imm) if own is not None else None) or helpers.get(insn.imm)
        if proto is None:
            from cfg.core import poison_message
            poison = poison_message(self.program, pc)  # libbpf's failed CO-RE relocation
            if poison is not None:
                ch.fail(pc, "invalid-call", poison)
                st.set_bottom()  # like the kernel, go no further on this path
                return
            ch.fail(pc, "unknown-helper", f"call to unknown helper {insn.imm}")
            self._clobber(st)
            st.havoc("r0", T.NUMBER)
            return
        may_call = getattr(self.ptype, "may_call", None)
        is_own = own is not None and own(insn.imm) is not None
        if not is_own and may_call is not None and not may_call(insn.imm):
            ch.fail(pc, "unknown-helper", f"helper {proto.name} ({insn.imm}) is not available to "
                    f"{getattr(self.ptype, 'name', 'this')} programs")
        from verifier.helpers import call_helper
        call_helper(self, st, pc, proto, ch, depth)

    def _clobber(self, st: State) -> None:
        for r in range(1, 6):
            st.remove(f"r{r}")

    def invalidate_packet(self, st: State) -> None:
        """Packet pointers die after a helper that may move the packet."""
        for v, m in list(st.types.items()):
            if m & T.PACKET:
                rest = m & ~T.PACKET
                st.num.forget([var(v, "packet_offset")])
                if rest:
                    st.types[v] = rest
                elif v.startswith("s["):
                    o, _, rest_ = v[2:-1].partition("...")
                    a = int(o)
                    b = int(rest_) + 1 if rest_ else a + 1
                    st.stack.remove_cell(a)
                    st.stack.mark_ptr(a, b)
                    st.remove(v)
                else:
                    st.remove(v)
        st.num.forget([PACKET_SIZE, META_OFFSET])
        self.bound_globals(st)

    def _exit(self, st, pc, insn, spec, ch, depth) -> None:
        if pc in self.options.unchecked_exits:
            return
        if depth == 0:
            C.check_exit(ch, st, pc, self.return_range, self.options.privileged)
        else:
            C.check_init(ch, st, pc, 0, "the function's return value")

    # ---- call frames --------------------------------------------------------------------
    def enter_call(self, st: State, caller_depth: int) -> None:
        """Call edge: save r6-r9, fresh frame (r10 512 bytes lower), r0 undefined."""
        d = caller_depth + 1
        for i in range(6, 10):
            r = f"r{i}"
            st.copy_value(f"f{d}.{r}", r)
            st.remove(r)
        st.remove("r0")
        x = "r10.stack_offset"
        st.num.assign(x, E.var(x) - self.options.stack_size)

    def leave_call(self, st: State, callee_depth: int) -> None:
        """Return edge: drop the callee's frame, restore r6-r9 and r10, clobber r1-r5."""
        d = callee_depth
        size = self.options.stack_size
        top = self.options.stack_top
        lo, hi = top - size * (d + 1), top - size * d
        for a, b in st.stack.overlapping(lo, hi):
            st.stack.remove_cell(a)
            st.remove(cell_name(a, b))
        st.stack.havoc(lo, hi)
        for i in range(6, 10):
            r = f"r{i}"
            st.copy_value(r, f"f{d}.{r}")
            st.remove(f"f{d}.{r}")
        self._clobber(st)
        x = "r10.stack_offset"
        st.num.assign(x, E.var(x) + size)
