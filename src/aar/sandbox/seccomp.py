"""Containment for what the audit hook cannot watch: a seccomp filter that denies starting programs.

The audit hook (:mod:`aar.sandbox.audit`) sees what goes through Python. Code with ``ctypes`` can call libc
directly (``system``, ``execve``) and leave no Python event. So before any submitted code is imported, the
method child installs a seccomp filter on itself (inherited by every thread and child process): ``execve``,
``execveat``, ``ptrace`` and ``process_vm_readv/writev`` fail with EPERM. Forks and threads still work
(torch, BLAS and tokenizers need threads; nothing a method needs runs another program). Measured on this
machine: ``subprocess.run(["/bin/true"])`` raises PermissionError, libc ``system("...")`` returns 127 (the
shell never starts), threads and ``os.fork`` work.

The filter is a hand-assembled classic BPF program (a dozen instructions), installed with ``prctl`` through
ctypes, so no library is needed. ``no_new_privs`` is set first (the kernel requires it; the sandbox's
``setpriv`` sets it too). On another architecture or kernel the call reports False and the child goes on
(the rest of the sandbox still holds; nothing records that the filter is missing).
"""

from __future__ import annotations

import ctypes
import platform
import struct

# (AUDIT_ARCH_*, syscall numbers of execve, execveat, ptrace, process_vm_readv, process_vm_writev)
ARCHES = {"x86_64": (0xC000003E, (59, 322, 101, 310, 311)),
          "aarch64": (0xC00000B7, (221, 281, 117, 270, 271))}
X32_BIT = 0x40000000  # x86_64's x32 ABI numbers: denied whole (Python never uses them)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
LD_ABS_W, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06


def program(arch: int, denied: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """The filter: another architecture is allowed through (its numbers differ; the sandbox still holds);
    on ours, the denied numbers and the x32 range return EPERM, everything else is allowed."""
    n = len(denied)
    code = [(LD_ABS_W, 0, 0, 4), (JEQ_K, 1, 0, arch), (RET_K, 0, 0, RET_ALLOW),
            (LD_ABS_W, 0, 0, 0), (JGE_K, n + 1, 0, X32_BIT)]
    code += [(JEQ_K, n - i, 0, nr) for i, nr in enumerate(denied)]
    return [*code, (RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, RET_ERRNO | EPERM)]


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny_exec() -> bool:
    """Install the filter on this process; True when it is in force."""
    arch = ARCHES.get(platform.machine())
    if arch is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    code = program(*arch)
    raw = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in code))
    fprog = _Fprog(len(code), ctypes.cast(raw, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
