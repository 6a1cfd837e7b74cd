"""The trusted shim for function-call tests: runs inside the sandbox next to the solution.

Protocol (one test per process): the host writes ``/box/call.json`` (``{"expr": "f(1, 2)"}``) and sends
a fresh random nonce on stdin. The shim reads the nonce *before* the solution is loaded, executes the
solution as module ``solution``, evaluates the expression in its namespace, encodes the value with
exact built-in types only (an object that merely claims equality cannot be encoded) and prints
``<nonce> <json>`` as its last act. The host decodes that line and compares it with the expected
value, which never enters the sandbox; a program that exits early or prints a forged line without the
nonce produces no verdict and fails.
"""

from __future__ import annotations

SHIM_NAME = "harness.py"
CALL_NAME = "call.json"

SHIM_SOURCE = r'''
import json, sys
_nonce = sys.stdin.readline().strip()
sys.stdin = open("/dev/null")
_write = sys.__stdout__.write
_flush = sys.__stdout__.flush
_spec = json.load(open("/box/call.json"))


def _encode(v, depth=0, _type=type, _repr=float.__repr__, _sorted=sorted, _dumps=json.dumps):
    if depth > 100:
        raise ValueError("value nested too deeply")
    t = _type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if -(2 ** 53) < v < 2 ** 53 else {"__int__": int.__repr__(v)}
    if t is float:
        return v if v == v and v not in (float("inf"), float("-inf")) else {"__float__": _repr(v)}
    if t is list or t is tuple:
        return [_encode(x, depth + 1) for x in v]
    if t is set or t is frozenset:
        return {"__set__": _sorted((_encode(x, depth + 1) for x in v), key=_dumps)}
    if t is dict:
        return {"__dict__": _sorted(([_encode(k, depth + 1), _encode(x, depth + 1)] for k, x in v.items()), key=_dumps)}
    raise TypeError("result of type %s is not a plain value" % t.__name__)


_ns = {"__name__": "solution"}
exec(compile(open("/box/main.py").read(), "/box/main.py", "exec"), _ns)
_value = eval(compile(_spec["expr"], "<test>", "eval"), _ns)
_line = _nonce + " " + json.dumps(_encode(_value)) + "\n"
_write(_line)
_flush()
'''
