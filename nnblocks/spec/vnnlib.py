"""VNN-LIB as VNN-COMP uses it: read a property file into a :class:`~nnblocks.spec.Spec`, and write one.

The subset read: ``(declare-const X_i Real)`` and ``(declare-const Y_j Real)`` (the network's flattened inputs
and outputs, numbered from 0), and ``(assert F)`` where ``F`` is built from ``and``, ``or`` and the atoms
``(<= s t)`` and ``(>= s t)`` over linear terms ``s, t``: variables, numbers (decimal or scientific notation,
negative literals such as ``-0.5`` included), ``(+ a b ...)``, ``(- a b ...)``, ``(- a)`` and ``(* c a)`` with
all factors but one constant. ``(check-sat)``, ``(get-model)``, ``(set-logic ...)`` and ``(set-info ...)`` are
accepted and ignored. The conjunction of all asserts is brought to disjunctive normal form; each case becomes
one :class:`~nnblocks.spec.Disjunct`: its atoms over a single input variable with a non-zero coefficient are
bounds (the tightest wins), its other atoms over inputs are rows of ``input_A x <= input_b``, its atoms over
outputs rows of ``output_A y <= output_b``. An atom over both inputs and outputs is refused, and so is a case
that leaves an input unbounded. Everything else is a :class:`~nnblocks.spec.SpecError` of one line
``"<file>:<line>: <what> at token '<tok>'"``.
"""

from __future__ import annotations

import gzip
import itertools
import math
import os
import re
from pathlib import Path

import numpy as np

from nnblocks.spec.model import Disjunct, Spec, SpecError

__all__ = ["MAX_DISJUNCTS", "read_vnnlib", "write_vnnlib"]

MAX_DISJUNCTS = 100_000
"""The most disjuncts a file may expand to (its disjunctive normal form); more is a SpecError."""

# A hand-written tokenizer and parser: no s-expression library is among the dependencies, and the general ones
# build a Python object per token and keep no line numbers; one regular expression over the whole text and a
# stack of lists read the 3072-input CIFAR properties (about 50,000 tokens) in a few tens of milliseconds.
_COMMENT = re.compile(r";[^\n]*")
_TOKEN = re.compile(r"[()]|[^\s()]+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_VARIABLE = re.compile(r"([XY])_(\d+)")
_IGNORED = frozenset({"check-sat", "get-model", "set-logic", "set-info", "exit"})

_IN, _BOUND, _OUT = 0, 1, 2  # kinds of atoms: a row over inputs, a bound on one input, a row over outputs


class _Parser:
    """Tokens of one text, the s-expression tree over them, and the reading of the tree."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.text = _COMMENT.sub("", text)  # newlines stay, so line numbers are those of the file
        self.tokens: list[str] = _TOKEN.findall(self.text)
        # declared variables: name -> (kind, index); and the token of each declaration
        self.vars: dict[str, tuple[str, int]] = {}
        self.decl_token: dict[tuple[str, int], int] = {}
        # atoms: kind, variable keys, coefficients, right-hand side (sum coef * var <= rhs), operator token
        self.kind: list[int] = []
        self.keys: list[tuple[tuple[str, int], ...]] = []
        self.coefs: list[tuple[float, ...]] = []
        self.rhs: list[float] = []
        self.atom_token: list[int] = []

    # --- errors --------------------------------------------------------------------------------------------
    def error(self, tok: int | None, what: str) -> SpecError:
        if tok is None or not self.tokens:
            line, token = self.text.count("\n") + 1, "<end of file>"
        else:
            start = next(itertools.islice(_TOKEN.finditer(self.text), tok, None)).start()  # only on errors
            line, token = self.text.count("\n", 0, start) + 1, self.tokens[tok]
        return SpecError(f"{self.source}:{line}: {what} at token '{token}'")

    # --- s-expressions -------------------------------------------------------------------------------------
    def tree(self) -> list[list]:
        """The top-level expressions; a node is a list ``[open-token, child, ...]`` whose children are token
        indices (atoms) or nodes."""
        top: list[list] = []
        stack: list[list] = []
        for i, tok in enumerate(self.tokens):
            if tok == "(":
                node = [i]
                (stack[-1] if stack else top).append(node)
                stack.append(node)
            elif tok == ")":
                if not stack:
                    raise self.error(i, "unbalanced parenthesis: ')' without '('")
                stack.pop()
            elif stack:
                stack[-1].append(i)
            else:
                raise self.error(i, "expected '(' at the top level")
        if stack:
            raise self.error(stack[0][0], "unbalanced parenthesis: '(' never closed")
        return top

    def head(self, node: list) -> str:
        if len(node) < 2 or isinstance(node[1], list):
            raise self.error(node[0], "expected a function name after '('")
        return self.tokens[node[1]]

    # --- declarations --------------------------------------------------------------------------------------
    def declare(self, node: list) -> None:
        if len(node) != 4 or isinstance(node[2], list) or isinstance(node[3], list):
            raise self.error(node[1], "declare-const takes a name and a sort")
        name, sort = self.tokens[node[2]], self.tokens[node[3]]
        m = _VARIABLE.fullmatch(name)
        if m is None:
            raise self.error(node[2], "declared names must be X_<i> (inputs) or Y_<j> (outputs)")
        if sort != "Real":
            raise self.error(node[3], f"unsupported sort of {name} (only Real)")
        if name in self.vars:
            raise self.error(node[2], f"{name} declared twice")
        key = (m.group(1), int(m.group(2)))
        self.vars[name] = key
        self.decl_token[key] = node[2]

    def count(self, kind: str, expected: int | None, what: str) -> int:
        indices = sorted(i for k, i in self.decl_token if k == kind)
        n = len(indices)
        if n and indices[-1] != n - 1:
            missing = min(set(range(indices[-1] + 1)) - set(indices))
            raise self.error(self.decl_token[(kind, indices[-1])], f"{kind}_{missing} is not declared")
        if expected is not None and n != expected:
            tok = self.decl_token[(kind, n - 1)] if n else (0 if self.tokens else None)
            raise self.error(tok, f"the file declares {n} {what} variables {kind}_i, expected "
                                  f"{'n_inputs' if kind == 'X' else 'n_outputs'}={expected}")
        return n

    # --- linear terms --------------------------------------------------------------------------------------
    def term(self, node: int | list) -> tuple[dict[tuple[str, int], float], float]:
        """A linear term as (coefficients by variable, constant)."""
        if not isinstance(node, list):
            tok = self.tokens[node]
            if _NUMBER.fullmatch(tok):
                return {}, float(tok)
            key = self.vars.get(tok)
            if key is None:
                raise self.error(node, "undeclared variable (or a malformed number)")
            return {key: 1.0}, 0.0
        op = self.head(node)
        if op == "+" and len(node) > 2:
            coefs: dict[tuple[str, int], float] = {}
            const = 0.0
            for a in node[2:]:
                product = self.product(a)  # fast path for the terms (* c X_i) of dense rows
                if product is not None:
                    key, v = product
                    coefs[key] = coefs.get(key, 0.0) + v
                    continue
                c, k = self.term(a)
                for key, v in c.items():
                    coefs[key] = coefs.get(key, 0.0) + v
                const += k
            return coefs, const
        product = self.product(node)
        if product is not None:
            return {product[0]: product[1]}, 0.0
        args = [self.term(a) for a in node[2:]]
        if op == "-" and args:
            if len(args) == 1:
                c, k = args[0]
                return {key: -v for key, v in c.items()}, -k
            coefs, const = dict(args[0][0]), args[0][1]
            for c, k in args[1:]:
                for key, v in c.items():
                    coefs[key] = coefs.get(key, 0.0) - v
                const -= k
            return coefs, const
        if op == "*" and args:
            variable = [a for a in args if a[0]]
            if len(variable) > 1:
                raise self.error(node[1], "nonlinear term (a product of variables)")
            factor = math.prod(k for c, k in args if not c)
            if not variable:
                return {}, factor
            c, k = variable[0]
            return {key: factor * v for key, v in c.items()}, factor * k
        if op in ("+", "-", "*"):
            raise self.error(node[1], f"'{op}' needs at least one argument")
        raise self.error(node[1], "unknown function")

    def product(self, node: int | list) -> tuple[tuple[str, int], float] | None:
        """``(key, c)`` for a node ``(* c X_i)`` or ``(* X_i c)`` of a number and a declared variable, else None."""
        if not isinstance(node, list) or len(node) != 4 or isinstance(node[2], list) or isinstance(node[3], list):
            return None
        if isinstance(node[1], list) or self.tokens[node[1]] != "*":
            return None
        a, b = self.tokens[node[2]], self.tokens[node[3]]
        key = self.vars.get(b)
        if key is not None and _NUMBER.fullmatch(a):
            return key, float(a)
        key = self.vars.get(a)
        if key is not None and _NUMBER.fullmatch(b):
            return key, float(b)
        return None

    # --- atoms and formulas --------------------------------------------------------------------------------
    def atom(self, node: list, op: str) -> list[list[int]]:
        """The cases of one atom: ``[[id]]``, or ``[[]]`` (always true) / ``[]`` (never) for constants."""
        if len(node) != 4:
            raise self.error(node[1], f"'{op}' takes two arguments")
        left, right = node[2], node[3]
        if not isinstance(left, list) and not isinstance(right, list):  # fast path: (<= X_3 0.5)
            lt, rt = self.tokens[left], self.tokens[right]
            key, value, upper = self.vars.get(lt), rt, op == "<="
            if key is None:
                key, value, upper = self.vars.get(rt), lt, op == ">="
            if key is not None and key[0] == "X" and _NUMBER.fullmatch(value):
                self.kind.append(_BOUND)
                self.keys.append((key,))
                self.coefs.append((1.0 if upper else -1.0,))
                self.rhs.append(float(value) if upper else -float(value))
                self.atom_token.append(node[1])
                return [[len(self.kind) - 1]]
        lc, lk = self.term(left)
        rc, rk = self.term(right)
        if op == ">=":
            lc, lk, rc, rk = rc, rk, lc, lk
        coefs = dict(lc)  # (lc - rc) . v <= rk - lk
        for key, v in rc.items():
            coefs[key] = coefs.get(key, 0.0) - v
        rhs = rk - lk
        kinds = {key[0] for key in coefs}
        if not kinds:
            return [[]] if 0.0 <= rhs else []
        if len(kinds) == 2:
            raise self.error(node[1], "a constraint mixes inputs X and outputs Y")
        nonzero = [key for key, v in coefs.items() if v != 0.0]
        if kinds == {"X"}:
            kind = _BOUND if len(nonzero) == 1 and len(coefs) == 1 else _IN
        else:
            kind = _OUT
        self.kind.append(kind)
        self.keys.append(tuple(coefs))
        self.coefs.append(tuple(coefs.values()))
        self.rhs.append(rhs)
        self.atom_token.append(node[1])
        return [[len(self.kind) - 1]]

    def cases(self, node: int | list) -> list[list[int]]:
        """The formula ``node`` in disjunctive normal form: a list of cases, each a list of atom ids."""
        if not isinstance(node, list):
            raise self.error(node, "expected a constraint")
        op = self.head(node)
        if op in ("<=", ">="):
            return self.atom(node, op)
        if op == "or":
            out: list[list[int]] = []
            for child in node[2:]:
                out.extend(self.cases(child))
                if len(out) > MAX_DISJUNCTS:
                    raise self.error(node[1], f"more than MAX_DISJUNCTS={MAX_DISJUNCTS} disjuncts")
            return out
        if op == "and":
            common: list[int] = []
            several: list[list[list[int]]] = []
            for child in node[2:]:
                c = self.cases(child)
                if not c:
                    return []
                if len(c) == 1:
                    common.extend(c[0])
                else:
                    several.append(c)
            if math.prod(len(c) for c in several) > MAX_DISJUNCTS:
                raise self.error(node[1], f"the normal form has more than MAX_DISJUNCTS={MAX_DISJUNCTS} disjuncts")
            return [common + [i for case in combo for i in case] for combo in itertools.product(*several)]
        raise self.error(node[1], "unknown function")

    # --- assembly ------------------------------------------------------------------------------------------
    def block(self, ids: list[int], n_in: int, n_out: int) -> tuple:
        """The arrays of a conjunction of atoms: (lower, upper, input rows, input rhs, output rows, output rhs)."""
        lower = np.full(n_in, -np.inf)
        upper = np.full(n_in, np.inf)
        kind = np.array([self.kind[i] for i in ids], dtype=np.int8)
        bounds = [ids[j] for j in np.flatnonzero(kind == _BOUND)]
        if bounds:
            var = np.array([self.keys[i][0][1] for i in bounds], dtype=np.int64)
            coef = np.array([self.coefs[i][0] for i in bounds])
            value = np.array([self.rhs[i] for i in bounds]) / coef
            up = coef > 0
            np.minimum.at(upper, var[up], value[up])
            np.maximum.at(lower, var[~up], value[~up])
        rows = []
        for k, n in ((_IN, n_in), (_OUT, n_out)):
            sel = [ids[j] for j in np.flatnonzero(kind == k)]
            A = np.zeros((len(sel), n))
            for r, i in enumerate(sel):
                A[r, [key[1] for key in self.keys[i]]] = self.coefs[i]
            rows += [A, np.array([self.rhs[i] for i in sel], dtype=np.float64)]
        return (lower, upper, *rows)

    def spec(self, n_inputs: int | None, n_outputs: int | None, name: str) -> Spec:
        top = self.tree()
        asserts = []
        for node in top:
            op = self.head(node)
            if op == "declare-const":
                self.declare(node)
            elif op == "assert":
                if len(node) != 3:
                    raise self.error(node[1], "assert takes one formula")
                asserts.append(node)
            elif op not in _IGNORED:
                raise self.error(node[1], "unknown function")
        n_in = self.count("X", n_inputs, "input")
        n_out = self.count("Y", n_outputs, "output")
        if n_in == 0:
            raise self.error(0 if self.tokens else None, "the file declares no input X_0")
        common: list[int] = []
        several: list[list[list[int]]] = []
        for node in asserts:
            c = self.cases(node[2])
            if len(c) == 1:
                common.extend(c[0])
            else:
                several.append(c)
                if math.prod(len(s) for s in several) > MAX_DISJUNCTS:
                    raise self.error(node[1], f"the asserts expand to more than MAX_DISJUNCTS={MAX_DISJUNCTS} "
                                              "disjuncts")
        base = self.block(common, n_in, n_out)
        blocks = [[self.block(case, n_in, n_out) for case in c] for c in several]
        disjuncts = []
        for combo in itertools.product(*blocks):
            lower, upper, iA, ib, oA, ob = base
            if combo:
                lower = np.maximum.reduce([lower, *(b[0] for b in combo)])
                upper = np.minimum.reduce([upper, *(b[1] for b in combo)])
                iA, ib = np.vstack([iA, *(b[2] for b in combo)]), np.concatenate([ib, *(b[3] for b in combo)])
                oA, ob = np.vstack([oA, *(b[4] for b in combo)]), np.concatenate([ob, *(b[5] for b in combo)])
            for side, values in (("lower", lower), ("upper", upper)):
                open_ = np.flatnonzero(~np.isfinite(values))
                if open_.size:
                    i = int(open_[0])
                    where = f" in disjunct {len(disjuncts)}" if several else ""
                    raise self.error(self.decl_token[("X", i)], f"X_{i} has no {side} bound{where} (verification "
                                                                 "needs a bounded input set)")
            disjuncts.append(Disjunct(lower, upper, iA, ib, oA, ob))
        return Spec(n_in, n_out, tuple(disjuncts), name)


def read_vnnlib(path_or_text: str | os.PathLike, n_inputs: int | None = None, n_outputs: int | None = None) -> Spec:
    """Read a VNN-LIB property (a ``.vnnlib`` or ``.vnnlib.gz`` file, or the text itself) into a :class:`Spec`.

    Parameters
    ----------
    path_or_text
        A path, or the file's text (a string holding a parenthesis or a newline is taken as text).
    n_inputs, n_outputs
        The network's numbers of inputs and outputs, when known: a file declaring other counts is refused.

    Raises
    ------
    SpecError
        ``"<file>:<line>: <what> at token '<tok>'"`` for anything outside the subset of the module docstring:
        unknown functions, nonlinear terms, undeclared variables, an atom mixing X and Y, unbalanced
        parentheses, an unbounded input, declared counts other than ``n_inputs`` / ``n_outputs``.
    """
    if isinstance(path_or_text, str) and ("(" in path_or_text or "\n" in path_or_text):
        text, source, name = path_or_text, "<string>", ""
    else:
        path = Path(path_or_text)
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        else:
            text = path.read_text(encoding="utf-8")
        source = str(path)
        name = path.name.removesuffix(".gz").removesuffix(".vnnlib")
    return _Parser(text, source).spec(n_inputs, n_outputs, name)


def _number(v: float) -> str:
    return repr(float(v) + 0.0)  # the shortest text that float() reads back to the same double (-0.0 as 0.0)


def _row(A_row: np.ndarray, b: float, var: str) -> str:
    """``(<= a.v b)`` for one row; ``(<= Y_i Y_j)`` for the difference of two variables with b = 0."""
    nz = np.flatnonzero(A_row)
    if b == 0.0 and nz.size == 2 and sorted(A_row[nz].tolist()) == [-1.0, 1.0]:
        pos, neg = (nz[0], nz[1]) if A_row[nz[0]] > 0 else (nz[1], nz[0])
        return f"(<= {var}_{pos} {var}_{neg})"
    if nz.size == 0:
        nz = np.array([0])  # a zero row keeps one variable, so it reads back as a row
    terms = [f"(* {_number(A_row[i])} {var}_{i})" for i in nz]
    lhs = terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"
    return f"(<= {lhs} {_number(b)})"


def _input_atoms(d: Disjunct) -> list[str]:
    atoms = []
    for i, (lo, up) in enumerate(zip(d.lower.tolist(), d.upper.tolist())):
        atoms += [f"(<= X_{i} {_number(up)})", f"(>= X_{i} {_number(lo)})"]
    atoms += [_row(a, b, "X") for a, b in zip(d.input_A, d.input_b.tolist())]
    return atoms


def _output_atoms(d: Disjunct) -> list[str]:
    return [_row(a, b, "Y") for a, b in zip(d.output_A, d.output_b.tolist())]


def write_vnnlib(spec: Spec, path: str | os.PathLike | None = None) -> str:
    """The VNN-LIB text of ``spec`` (written to ``path`` too when given; gzip-compressed for ``.gz``).

    VNN-COMP's layout: the declarations, the input box (and polytope rows) as separate asserts, and one
    ``(assert (or (and ...) ...))`` for the output cases; when the disjuncts have different input sets, one
    ``(assert (or (and <input set> <outputs>) ...))``. Numbers are written so that they read back exactly:
    ``read_vnnlib(write_vnnlib(spec)) == spec``, except that a polytope row with a single non-zero coefficient
    reads back as a bound. Input balls (norm 1 or 2) have no VNN-LIB form and are refused.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"spec must be a Spec, got {type(spec).__name__}")
    for i, d in enumerate(spec.disjuncts):
        if d.ball is not None:
            raise SpecError(f"disjunct {i} has an L{d.ball[2]} ball as input set, which VNN-LIB cannot express")
    if spec.n_outputs == 0 and any(d.output_A.shape[0] for d in spec.disjuncts):
        raise SpecError("output rows over zero outputs cannot be written")
    lines = [f"; {spec.name}"] if spec.name else []
    lines += [f"(declare-const X_{i} Real)" for i in range(spec.n_inputs)] + [""]
    lines += [f"(declare-const Y_{j} Real)" for j in range(spec.n_outputs)] + [""]
    ds = spec.disjuncts
    if not ds:
        lines.append("(assert (or))")
    elif spec.shares_input_set():
        lines += [f"(assert {a})" for a in _input_atoms(ds[0])] + [""]
        if len(ds) == 1:
            lines += [f"(assert {a})" for a in _output_atoms(ds[0])]
        else:
            lines.append("(assert (or")
            lines += [f"    (and {' '.join(_output_atoms(d))})" for d in ds]
            lines.append("))")
    else:
        lines.append("(assert (or")
        lines += [f"    (and {' '.join(_input_atoms(d) + _output_atoms(d))})" for d in ds]
        lines.append("))")
    text = "\n".join(lines) + "\n"
    if path is not None:
        path = Path(path)
        if path.suffix == ".gz":
            with gzip.open(path, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            path.write_text(text, encoding="utf-8")
    return text

