"""CO-RE: apply an object's `.BTF.ext` relocations against a target BTF, as libbpf does.

`Relocator(local, target).resolve(reloc)` computes what one relocation (a `CoreReloc`) means on
the target: candidate types are the target types of the same kind whose names match once the
`___flavour` suffix is stripped; the access string ("0:2:1") is walked through the local type
and matched member by member (by name, through anonymous members) in each candidate;
`patch(slots, index, resolution)` then rewrites the instruction libbpf rewrites (ALU imm,
LDX/ST/STX offset and, for unsigned or pointer fields, the access size; lddw imm64). What
cannot be resolved poisons the instruction: it becomes `call 0xbad2310` (an invalid helper, so
a verifier reports it when reachable) and `CoreResult.failure` says why. Inconsistent input
(an instruction that does not hold the compiler's value, ambiguous candidates) raises ElfError,
as libbpf refuses to load such an object.

`target_btf(path)` reads a raw BTF file (/sys/kernel/btf/vmlinux) or an ELF object's `.BTF`,
parses it lazily (types decoded when first used) and caches it per path, mtime and size for
the life of the process.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from cfg.btf import MODIFIERS, Btf, BtfType, essential_name, parse_btf
from cfg.btf_ext import CoreReloc
from cfg.errors import ElfError

KERNEL_BTF = "/sys/kernel/btf/vmlinux"


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO = _Auto()  # load_object's default target: $BPFCHECK_BTF, else the running kernel's BTF
ENV_TARGET = "BPFCHECK_BTF"      # a path, or "none" to keep the compiler's local values
CORE_POISON_HELPER = 0xBAD2310   # libbpf's "bad relo": the poisoned instruction calls it
MAX_SPEC_LEN = 64
_OPCODE_CALL = 0x85
_OPCODE_LDDW = 0x18
_SIZE_CODES = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}   # BPF_B, BPF_H, BPF_W, BPF_DW
_SIZE_BYTES = {v: k for k, v in _SIZE_CODES.items()}
_FIELD_KINDS = frozenset({"field_byte_offset", "field_byte_size", "field_exists",
                          "field_signed", "field_lshift_u64", "field_rshift_u64"})
_TYPE_KINDS = frozenset({"type_id_local", "type_id_target", "type_exists", "type_size",
                         "type_matches"})
_ENUM_KINDS = frozenset({"enumval_exists", "enumval_value"})


@dataclass(frozen=True)
class CoreResult:
    """What the loader did with one relocation of a program: the compiler's value `local`, the
    applied `value` (None when the instruction was poisoned, `failure` then says why), and the
    target type it resolved to."""

    reloc: CoreReloc
    local: int
    value: int | None
    failure: str = ""
    target: str = ""

    @property
    def poisoned(self) -> bool:
        return self.value is None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.reloc}: poisoned: {self.failure}"
        return f"{self.reloc}: {self.local} -> {self.value}"


@dataclass(frozen=True)
class Resolution:
    """The outcome of one relocation before patching (libbpf's bpf_core_relo_res)."""

    orig: int
    new: int
    poison: bool = False
    validate: bool = True
    orig_size: int = 0
    new_size: int = 0
    bad_size: bool = False      # the access size would change on a signed or non-int field
    failure: str = ""
    target: str = ""


@dataclass(frozen=True)
class _Acc:
    """One step of an access path: a named member (`type_id` its struct/union, `idx` its
    index) or an array element (`name` None, `type_id` the element type)."""

    type_id: int
    idx: int
    name: str | None


@dataclass
class _Spec:
    btf: Btf
    root: int
    accs: list[_Acc] = field(default_factory=list)
    bit_offset: int = 0


# --- the target BTF --------------------------------------------------------------------------
def target_btf(path: str | os.PathLike) -> Btf:
    """The parsed BTF of a raw BTF file or of an ELF object's `.BTF` (cached per path+mtime)."""
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise ElfError(f"target BTF {name}: {exc.strerror or exc}") from None
    return _cached_btf(os.path.realpath(name), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _cached_btf(path: str, _mtime: int, _size: int) -> Btf:
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        if data[:4] == b"\x7fELF":
            from cfg.elf_reader import read_elf
            sec = read_elf(data).section(".BTF")
            if sec is None:
                raise ElfError("no .BTF section")
            data = sec.data
        return parse_btf(data, lazy=True)
    except ElfError as exc:
        raise ElfError(f"target BTF {path}: {exc}") from None
    except Exception as exc:  # a damaged BTF the parser did not foresee
        raise ElfError(f"target BTF {path}: malformed: {type(exc).__name__}: {exc}") from None


def default_target() -> str | None:
    """The target BTF path when the caller names none: $BPFCHECK_BTF ("none" keeps local
    values), else the running kernel's BTF when it exists, else None."""
    env = os.environ.get(ENV_TARGET)
    if env:
        return None if env.lower() == "none" else env
    return KERNEL_BTF if os.path.exists(KERNEL_BTF) else None


def open_target(target: str | os.PathLike | Btf | None | _Auto) -> tuple[Btf | None, str]:
    """(parsed target BTF or None, its name) for a loader's `target_btf` argument."""
    if isinstance(target, _Auto):
        target = default_target()
    if target is None:
        return None, ""
    if isinstance(target, Btf):
        return target, "given"
    return target_btf(target), os.fspath(target)


# --- names -----------------------------------------------------------------------------------
def _compat_kinds(a: BtfType, b: BtfType) -> bool:
    return a.kind == b.kind or (a.kind in ("enum", "enum64") and b.kind in ("enum", "enum64"))


def _skip(btf: Btf, type_id: int) -> tuple[int, BtfType]:
    """Skip typedefs and qualifiers: (id, type)."""
    t = btf.type(type_id)
    for _ in range(32):
        if t.kind not in MODIFIERS:
            return t.id, t
        t = btf.type(t.type)
    raise ElfError(f"BTF: type {type_id}: modifier chain too long or cyclic")


def _size(btf: Btf, type_id: int) -> int | None:
    """btf__resolve_size: None for types without a size (void, functions)."""
    try:
        return btf.size_of(type_id)
    except ElfError:
        return None


# --- the relocator ---------------------------------------------------------------------------
class Relocator:
    """Resolves the CO-RE relocations of one object (local BTF) against one target BTF."""

    def __init__(self, local: Btf, target: Btf, target_name: str = "target") -> None:
        self.local = local
        self.target = target
        self.target_name = target_name
        self._cands: dict[int, list[int]] = {}
        self._done: dict[tuple[int, str, str], Resolution] = {}

    def resolve(self, reloc: CoreReloc) -> Resolution:
        """The resolution of `reloc` (cached: a subprogram's relocations repeat per program)."""
        key = (reloc.type_id, reloc.access, reloc.kind)
        if key not in self._done:
            try:
                self._done[key] = self._resolve(reloc)
            except RecursionError:
                raise ElfError(f"{_where(reloc)}: types nested too deeply") from None
        return self._done[key]

    def _resolve(self, reloc: CoreReloc) -> Resolution:
        local = self._parse_spec(reloc)
        if reloc.kind == "type_id_local":
            return Resolution(reloc.type_id, reloc.type_id, validate=False)
        root = self.local.type(reloc.type_id)
        if not root.name:
            raise ElfError(f"{_where(reloc)}: CO-RE relocation of an anonymous type "
                           f"({self.local.type_name(reloc.type_id)}) is not supported")
        found: tuple[_Spec, Resolution] | None = None
        for cand in self.candidates(reloc.type_id):
            spec = self._match(local, reloc.kind, cand)
            if spec is None:
                continue
            res = self._calc(reloc, local, spec)
            if found is None:
                found = (spec, res)
            elif spec.bit_offset != found[0].bit_offset:
                raise ElfError(f"{_where(reloc)}: CO-RE field offset ambiguity between "
                               f"{self.target.type_name(found[0].root)} candidates")
            elif (res.poison, res.new) != (found[1].poison, found[1].new):
                raise ElfError(f"{_where(reloc)}: CO-RE relocation decision ambiguity between "
                               f"{self.target.type_name(found[0].root)} candidates")
        if found is not None:
            return found[1]
        return self._calc(reloc, local, None)

    def candidates(self, local_id: int) -> list[int]:
        """Target type ids of the local type's kind whose essential names match its own."""
        if local_id not in self._cands:
            t = self.local.type(local_id)
            want = essential_name(t.name)
            self._cands[local_id] = [c.id for c in self.target.by_essential_name(want)
                                     if _compat_kinds(c, t)]
        return self._cands[local_id]

    # --- access specs ----------------------------------------------------------------------
    def _parse_spec(self, reloc: CoreReloc) -> _Spec:
        btf, where = self.local, _where(reloc)
        spec = _Spec(btf, reloc.type_id)
        if reloc.kind in _TYPE_KINDS:
            if reloc.access != "0":
                raise ElfError(f"{where}: type relocation with access string {reloc.access!r}")
            return spec
        try:
            raw = [int(part) for part in reloc.access.split(":")]
        except ValueError:
            raise ElfError(f"{where}: bad CO-RE access string {reloc.access!r}") from None
        if len(raw) > MAX_SPEC_LEN or any(i < 0 for i in raw):
            raise ElfError(f"{where}: bad CO-RE access string {reloc.access!r}")
        tid, t = _skip(btf, reloc.type_id)
        if reloc.kind in _ENUM_KINDS:
            if t.kind not in ("enum", "enum64") or len(raw) > 1 or raw[0] >= len(t.values):
                raise ElfError(f"{where}: bad enum value relocation {reloc.access!r} on "
                               f"{btf.type_name(reloc.type_id)}")
            spec.accs.append(_Acc(tid, raw[0], t.values[raw[0]].name))
            return spec
        size = _size(btf, tid)
        if size is None:
            raise ElfError(f"{where}: CO-RE field relocation on sizeless "
                           f"{btf.type_name(reloc.type_id)}")
        spec.accs.append(_Acc(tid, raw[0], None))
        spec.bit_offset = raw[0] * size * 8
        for idx in raw[1:]:
            tid, t = _skip(btf, tid)
            if t.kind in ("struct", "union"):
                if idx >= len(t.members):
                    raise ElfError(f"{where}: {btf.type_name(tid)} has no member #{idx}")
                m = t.members[idx]
                spec.bit_offset += m.bit_offset
                if m.name:
                    spec.accs.append(_Acc(tid, idx, m.name))
                tid = m.type
            elif t.kind == "array":
                elem, _ = _skip(btf, t.type)
                if not self._flex(btf, spec.accs[-1], t) and idx >= t.nelems:
                    raise ElfError(f"{where}: index {idx} outside {btf.type_name(t.id)}")
                spec.accs.append(_Acc(elem, idx, None))
                size = _size(btf, elem)
                if size is None:
                    raise ElfError(f"{where}: array of sizeless {btf.type_name(elem)}")
                spec.bit_offset += idx * size * 8
                tid = elem
            else:
                raise ElfError(f"{where}: access {reloc.access!r} steps into {t.kind} "
                               f"{btf.type_name(tid)}")
        return spec

    @staticmethod
    def _flex(btf: Btf, parent: _Acc, array: BtfType) -> bool:
        """A flexible array: zero elements, the last member of its struct."""
        if parent.name is None or array.nelems > 0:
            return False
        return parent.idx == len(btf.type(parent.type_id).members) - 1

    def _match(self, local: _Spec, kind: str, cand: int) -> _Spec | None:
        """The candidate's spec for the local access path, None when it does not match."""
        targ = self.target
        spec = _Spec(targ, cand)
        if kind in _TYPE_KINDS:
            ok = (types_match(self.local, local.root, targ, cand) if kind == "type_matches"
                  else types_compatible(self.local, local.root, targ, cand))
            return spec if ok else None
        if kind in _ENUM_KINDS:
            tid, t = _skip(targ, cand)
            if t.kind not in ("enum", "enum64"):
                return None
            want = essential_name(local.accs[0].name or "")
            for i, v in enumerate(t.values):
                if essential_name(v.name) == want:
                    spec.accs.append(_Acc(tid, i, v.name))
                    return spec
            return None
        tid = cand
        for i, acc in enumerate(local.accs):
            tid, t = _skip(targ, tid)
            if acc.name is not None:
                nxt = self._match_member(acc, tid, spec)
                if nxt is None:
                    return None
                tid = nxt
                continue
            if i > 0:
                if t.kind != "array":
                    return None
                if not self._flex(targ, spec.accs[-1], t) and acc.idx >= t.nelems:
                    return None
                tid, t = _skip(targ, t.type)
            if len(spec.accs) >= MAX_SPEC_LEN:
                raise ElfError("CO-RE access path too deep")
            spec.accs.append(_Acc(tid, acc.idx, None))
            size = _size(targ, tid)
            if size is None:
                raise ElfError(f"CO-RE access through sizeless {targ.type_name(tid)}")
            spec.bit_offset += acc.idx * size * 8
        return spec

    def _match_member(self, acc: _Acc, targ_id: int, spec: _Spec, depth: int = 0
                      ) -> int | None:
        """Find the local member `acc` in the target composite (through anonymous members);
        on success extend `spec` and return the member's type id."""
        targ_id, t = _skip(self.target, targ_id)
        if t.kind not in ("struct", "union") or depth > MAX_SPEC_LEN:
            return None
        local_member = self.local.type(acc.type_id).members[acc.idx]
        for i, m in enumerate(t.members):
            spec.bit_offset += m.bit_offset
            if not m.name:
                found = self._match_member(acc, m.type, spec, depth + 1)
                if found is not None:
                    return found
            elif m.name == acc.name:
                if not fields_compatible(self.local, local_member.type, self.target, m.type):
                    spec.bit_offset -= m.bit_offset
                    return None
                spec.accs.append(_Acc(targ_id, i, m.name))
                return m.type
            spec.bit_offset -= m.bit_offset
        return None

    # --- values ----------------------------------------------------------------------------
    def _calc(self, reloc: CoreReloc, local: _Spec, targ: _Spec | None) -> Resolution:
        kind, where = reloc.kind, _where(reloc)
        target = self.target.type_name(targ.root) + f" [{targ.root}]" if targ else ""
        if kind in _FIELD_KINDS:
            orig, orig_sz, orig_tid, validate = _field_value(reloc, local, where)
            if targ is None:
                if kind == "field_exists":
                    return Resolution(orig, 0, validate=validate)
                return Resolution(orig, 0, poison=True, failure=self._why(reloc, local))
            new, new_sz, new_tid, _ = _field_value(reloc, targ, where)
            bad = False
            if orig_sz != new_sz:
                a, b = self.local.type(orig_tid), self.target.type(new_tid)
                ok = (a.kind == b.kind == "ptr") or (
                    a.kind == b.kind == "int" and not a.encoding & 1 and not b.encoding & 1)
                bad = not ok
            failure = (f"{_path(self.local, local)} is {orig_sz} bytes here and {new_sz} "
                       f"in the target, and is not an unsigned integer or a pointer"
                       if bad else "")
            return Resolution(orig, new, validate=validate, orig_size=orig_sz,
                              new_size=new_sz, bad_size=bad, failure=failure, target=target)
        if kind in _TYPE_KINDS:
            orig = _type_value(kind, local, where)
            validate = kind != "type_id_target"
            return Resolution(orig, _type_value(kind, targ, where) if targ else 0,
                              validate=validate, target=target)
        # enum values
        orig = _enum_value(kind, local)
        if targ is None:
            if kind == "enumval_exists":
                return Resolution(orig, 0)
            return Resolution(orig, 0, poison=True, failure=self._why(reloc, local))
        return Resolution(orig, _enum_value(kind, targ), target=target)

    def _why(self, reloc: CoreReloc, local: _Spec) -> str:
        """Why no candidate matched, for the poisoned instruction's error message."""
        root = self.local.type(reloc.type_id)
        want = f"{_tag(root)} {essential_name(root.name)}"
        cands = self.candidates(reloc.type_id)
        if not cands:
            return f"the {self.target_name} BTF has no {want}"
        if reloc.kind in _ENUM_KINDS:
            return f"{want} has no value {essential_name(local.accs[0].name or '')}"
        # Walk the first candidate as far as it goes to name the missing member.
        tid = cands[0]
        for acc in local.accs[1:]:
            if acc.name is None:
                continue
            probe = _Spec(self.target, cands[0])
            parent = self.target.type_name(_skip(self.target, tid)[0])
            nxt = self._match_member(acc, tid, probe)
            if nxt is None:
                if self._has_member(_skip(self.target, tid)[0], acc.name):
                    return f"{parent}::{acc.name} has an incompatible type in the target"
                return f"{parent} has no field {acc.name}"
            tid = nxt
            _, t = _skip(self.target, tid)
            while t.kind == "array":
                tid, t = _skip(self.target, t.type)
        return f"{_path(self.local, local)} does not match {want} in the target"

    def _has_member(self, tid: int, name: str) -> bool:
        t = self.target.type(tid)
        for m in t.members:
            if m.name == name:
                return True
            if not m.name and self._has_member(_skip(self.target, m.type)[0], name):
                return True
        return False


def _where(reloc: CoreReloc) -> str:
    return f"CO-RE relocation at pc {reloc.pc} of section {reloc.section!r} ({reloc.kind})"


def _tag(t: BtfType) -> str:
    return {"enum64": "enum", "fwd": "struct"}.get(t.kind, t.kind)


def _path(btf: Btf, spec: _Spec) -> str:
    """`struct task_struct::real_parent` style path of a spec."""
    out = btf.type_name(spec.root)
    for acc in spec.accs[1:]:
        out += f"::{acc.name}" if acc.name else f"[{acc.idx}]"
    return out


def _field_value(reloc: CoreReloc, spec: _Spec, where: str) -> tuple[int, int, int, bool]:
    """(value, field size for the access-size check, field type id, validate) of a field
    relocation on one spec (libbpf's bpf_core_calc_field_relo)."""
    kind, btf = reloc.kind, spec.btf
    if kind == "field_exists":
        return 1, 0, 0, True
    acc = spec.accs[-1]
    if acc.name is None:  # an array element (or the root itself)
        size = _size(btf, acc.type_id)
        if size is None:
            raise ElfError(f"{where}: element of sizeless {btf.type_name(acc.type_id)}")
        if kind == "field_byte_offset":
            return spec.bit_offset // 8, size, acc.type_id, True
        if kind == "field_byte_size":
            return size, 0, 0, True
        raise ElfError(f"{where}: {kind} cannot be applied to an array element")
    parent = btf.type(acc.type_id)
    member = parent.members[acc.idx]
    ftid, mt = _skip(btf, member.type)
    bit_off, bit_sz = spec.bit_offset, member.bitfield_size
    if bit_sz:
        byte_sz = mt.size
        if byte_sz <= 0:
            raise ElfError(f"{where}: bitfield of sizeless {btf.type_name(ftid)}")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise ElfError(f"{where}: bitfield cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        size = _size(btf, ftid)
        if size is None:
            raise ElfError(f"{where}: field of sizeless {btf.type_name(ftid)}")
        byte_sz, byte_off, bit_sz = size, bit_off // 8, size * 8
    validate = not member.bitfield_size  # libbpf may disagree with clang on bitfields
    if kind == "field_byte_offset":
        return (byte_off, 0, 0, validate) if member.bitfield_size else \
            (byte_off, byte_sz, ftid, validate)
    if kind == "field_byte_size":
        return byte_sz, 0, 0, validate
    if kind == "field_signed":
        signed = (mt.kind in ("enum", "enum64") and mt.kind_flag) or \
            (mt.kind == "int" and bool(mt.encoding & 1))
        return int(signed), 0, 0, True
    if kind == "field_lshift_u64":
        return 64 - (bit_off + bit_sz - byte_off * 8), 0, 0, validate
    if kind == "field_rshift_u64":
        return 64 - bit_sz, 0, 0, True
    raise ElfError(f"{where}: unsupported CO-RE kind {kind}")


def _type_value(kind: str, spec: _Spec, where: str) -> int:
    if kind == "type_id_target":
        return spec.root
    if kind in ("type_exists", "type_matches"):
        return 1
    size = _size(spec.btf, spec.root)  # type_size
    if size is None:
        raise ElfError(f"{where}: type_size of sizeless {spec.btf.type_name(spec.root)}")
    return size


def _enum_value(kind: str, spec: _Spec) -> int:
    if kind == "enumval_exists":
        return 1
    acc = spec.accs[0]
    enum = spec.btf.type(acc.type_id)
    value = enum.values[acc.idx].value
    if enum.kind == "enum":  # libbpf reads a 32-bit enumerator as s32, whatever its sign
        value = _s32(value)
    return value & ((1 << 64) - 1)


# --- type compatibility ----------------------------------------------------------------------
def fields_compatible(local: Btf, lid: int, targ: Btf, tid: int) -> bool:
    """libbpf's bpf_core_fields_are_compat: may a local field of type `lid` be read as a
    target field of type `tid`?"""
    for _ in range(32):
        lid, lt = _skip(local, lid)
        tid, tt = _skip(targ, tid)
        if lt.kind in ("struct", "union") and tt.kind in ("struct", "union"):
            return True
        if not _compat_kinds(lt, tt):
            return False
        if lt.kind in ("ptr", "float"):
            return True
        if lt.kind in ("fwd", "enum", "enum64"):
            a, b = essential_name(lt.name), essential_name(tt.name)
            return not a or not b or a == b
        if lt.kind == "int":
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if lt.kind != "array":
            return False
        lid, tid = lt.type, tt.type
    raise ElfError("CO-RE: array nesting too deep")


def types_compatible(local: Btf, lid: int, targ: Btf, tid: int, level: int = 32) -> bool:
    """libbpf's bpf_core_types_are_compat (type_exists, type_size, type_id_target)."""
    if not _compat_kinds(local.type(lid), targ.type(tid)):
        return False
    for _ in range(32):
        lid, lt = _skip(local, lid)
        tid, tt = _skip(targ, tid)
        if not _compat_kinds(lt, tt):
            return False
        if lt.kind in ("void", "struct", "union", "enum", "enum64", "fwd"):
            return True
        if lt.kind == "int":
            return lt.bit_offset == 0 and tt.bit_offset == 0
        if lt.kind == "ptr" or lt.kind == "array":
            lid, tid = lt.type, tt.type
            continue
        if lt.kind != "func_proto" or len(lt.params) != len(tt.params):
            return False
        for lp, tp in zip(lt.params, tt.params):
            if level <= 0:
                raise ElfError("CO-RE: function prototypes nested too deeply")
            if not types_compatible(local, _skip(local, lp.type)[0], targ,
                                    _skip(targ, tp.type)[0], level - 1):
                return False
        lid, tid = lt.type, tt.type
    raise ElfError("CO-RE: types nested too deeply")


def _names_match(a: str, b: str) -> bool:
    if not b:
        return not a
    return essential_name(a) == essential_name(b)


def types_match(local: Btf, lid: int, targ: Btf, tid: int, behind_ptr: bool = False,
                level: int = 32) -> bool:
    """libbpf's bpf_core_types_match (type_matches): the stricter, layout-aware relation."""
    if level <= 0:
        raise ElfError("CO-RE: types nested too deeply")
    for _ in range(32):
        lid, lt = _skip(local, lid)
        tid, tt = _skip(targ, tid)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == "void":
            return tk == "void"
        if lk == "fwd":
            if behind_ptr and tk != "fwd":
                return (tk == "struct" and not lt.kind_flag) or \
                    (tk == "union" and lt.kind_flag)
            return lk == tk and lt.kind_flag == tt.kind_flag
        if lk in ("enum", "enum64"):
            if tk not in ("enum", "enum64") or lt.size != tt.size or \
                    len(lt.values) > len(tt.values):
                return False
            return all(any(_names_match(lv.name, tv.name) for tv in tt.values)
                       for lv in lt.values)
        if lk in ("struct", "union"):
            if behind_ptr:
                if lk == tk:
                    return True
                return tk == "fwd" and (lk == "union") == tt.kind_flag
            if lk != tk or len(lt.members) > len(tt.members):
                return False
            for lm in lt.members:
                if not any(_names_match(lm.name, tm.name) and
                           types_match(local, lm.type, targ, tm.type, behind_ptr, level - 1)
                           for tm in tt.members):
                    return False
            return True
        if lk == "int":
            return lk == tk and lt.size == tt.size and \
                (lt.encoding & 1) == (tt.encoding & 1)
        if lk == "ptr":
            if lk != tk:
                return False
            behind_ptr = True
            lid, tid = lt.type, tt.type
            continue
        if lk == "array":
            if lk != tk or lt.nelems != tt.nelems:
                return False
            lid, tid = lt.type, tt.type
            continue
        if lk == "func_proto":
            if lk != tk or len(lt.params) != len(tt.params):
                return False
            if not all(types_match(local, lp.type, targ, tp.type, behind_ptr, level - 1)
                       for lp, tp in zip(lt.params, tt.params)):
                return False
            lid, tid = lt.type, tt.type
            continue
        return False
    raise ElfError("CO-RE: types nested too deeply")


# --- patching --------------------------------------------------------------------------------
def patch(slots: list[list[int]], index: int, res: Resolution, reloc: CoreReloc) -> CoreResult:
    """Rewrite the instruction at `slots[index]` ([opcode, regs, off, imm] lists) as libbpf's
    bpf_core_patch_insn does; return what was done."""
    where = _where(reloc)
    insn = slots[index]
    opcode = insn[0]
    cls = opcode & 0x07
    if res.poison:
        return _poison(slots, index, res, reloc, res.failure)
    orig, new = res.orig, res.new
    if cls in (0x04, 0x07):  # ALU, ALU64
        if opcode & 0x08:
            raise ElfError(f"{where}: ALU instruction with a register source")
        if res.validate and (insn[3] & 0xFFFFFFFFFFFFFFFF) != orig:
            raise ElfError(f"{where}: instruction holds {insn[3]}, the local BTF says {orig}")
        insn[3] = _s32(new)
    elif cls in (0x01, 0x02, 0x03):  # LDX, ST, STX
        if res.validate and (insn[2] & 0xFFFFFFFFFFFFFFFF) != orig:
            raise ElfError(f"{where}: instruction offset {insn[2]}, the local BTF says {orig}")
        if new > 0x7FFF:
            raise ElfError(f"{where}: offset {new} does not fit an instruction")
        if res.bad_size:
            return _poison(slots, index, res, reloc, res.failure)
        insn[2] = new
        if res.new_size != res.orig_size:
            have = _SIZE_BYTES[opcode & 0x18]
            if have != res.orig_size:
                raise ElfError(f"{where}: a {have}-byte access of a {res.orig_size}-byte field")
            if res.new_size not in _SIZE_CODES:
                raise ElfError(f"{where}: the target field is {res.new_size} bytes")
            insn[0] = (opcode & ~0x18) | _SIZE_CODES[res.new_size]
    elif opcode == _OPCODE_LDDW:
        if index + 1 >= len(slots) or insn[1] >> 4 or insn[2] or any(slots[index + 1][:3]):
            raise ElfError(f"{where}: lddw of an unexpected form")
        value = (insn[3] & 0xFFFFFFFF) | ((slots[index + 1][3] & 0xFFFFFFFF) << 32)
        if res.validate and value != orig:
            raise ElfError(f"{where}: lddw holds {value}, the local BTF says {orig}")
        new &= (1 << 64) - 1
        insn[3] = _s32(new)
        slots[index + 1][3] = _s32(new >> 32)
    else:
        raise ElfError(f"{where}: instruction of unexpected class (opcode {opcode:#04x})")
    return CoreResult(reloc, orig, new, target=res.target)


def _poison(slots: list[list[int]], index: int, res: Resolution, reloc: CoreReloc,
            failure: str) -> CoreResult:
    if slots[index][0] == _OPCODE_LDDW and index + 1 < len(slots):
        slots[index + 1][:] = [_OPCODE_CALL, 0, 0, CORE_POISON_HELPER]
    slots[index][:] = [_OPCODE_CALL, 0, 0, CORE_POISON_HELPER]
    return CoreResult(reloc, res.orig, None, failure or "no match in the target BTF",
                      res.target)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def poison_message(program, pc: int) -> str | None:
    """The error for a call at `pc` to libbpf's poison helper: which relocation failed and
    why (None when the call is not to the poison helper)."""
    insn = program.at(pc) if program.index_of(pc) is not None else None
    if insn is None or insn.imm != CORE_POISON_HELPER:
        return None
    for res in getattr(program, "core_results", ()):
        if res.poisoned and res.reloc.pc in (pc, pc - 1):
            r = res.reloc
            return (f"CO-RE relocation failed: {res.failure} "
                    f"({r.kind} {r.spec or r.type_name}, access {r.access})")
    return (f"call to helper {CORE_POISON_HELPER:#x}: an instruction libbpf poisoned "
            f"because a CO-RE relocation failed")


def target_fingerprint() -> str:
    """Names the default target BTF and its version (path, mtime, size), for caches of results
    that depend on how CO-RE relocations were applied."""
    path = default_target()
    if path is None:
        return "core:none"
    try:
        st = os.stat(path)
    except OSError:
        return f"core:{path}:missing"
    return f"core:{os.path.realpath(path)}:{st.st_mtime_ns}:{st.st_size}"
