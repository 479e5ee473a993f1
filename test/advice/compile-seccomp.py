#!/usr/bin/python3
"""Compiles an OCI seccomp profile with libseccomp (python3-seccomp) for the architectures it lists,
as a runtime on such a node would, and checks that every name it allows is a syscall of its main
architecture. Prints one JSON line: {"arch", "names", "rules", "bpf_bytes", "missing": [...]}.
Usage: compile-seccomp.py PROFILE.json"""
import json
import sys
import tempfile

import seccomp

ARCHES = {
    "SCMP_ARCH_X86_64": seccomp.Arch.X86_64,
    "SCMP_ARCH_X86": seccomp.Arch.X86,
    "SCMP_ARCH_X32": seccomp.Arch.X32,
    "SCMP_ARCH_AARCH64": seccomp.Arch.AARCH64,
    "SCMP_ARCH_ARM": seccomp.Arch.ARM,
}
OPS = {"SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ, "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE}


def action(rule, profile):
    kind = rule["action"]
    if kind == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if kind == "SCMP_ACT_LOG":
        return seccomp.LOG
    if kind == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(rule.get("errnoRet", profile.get("defaultErrnoRet", 1)))
    raise SystemExit(f"action {kind} is not one a generated profile uses")


def main():
    profile = json.load(open(sys.argv[1]))
    arches = [ARCHES[a] for a in profile["architectures"]]
    default = action({"action": profile["defaultAction"], "errnoRet": profile.get("defaultErrnoRet", 1)}, profile)
    f = seccomp.SyscallFilter(default)
    f.remove_arch(seccomp.Arch.NATIVE)
    for a in arches:
        f.add_arch(a)
    missing, names, rules = [], set(), 0
    for rule in profile["syscalls"]:
        for name in rule["names"]:
            # a pseudo-syscall (negative) is a name libseccomp knows but the architecture lacks
            if seccomp.resolve_syscall(arches[0], name) < 0:
                missing.append(name)
                continue
            names.add(name)
            args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in rule.get("args", [])]
            f.add_rule(action(rule, profile), name, *args)
            rules += 1
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        size = out.tell()
    print(json.dumps({"arch": profile["architectures"][0], "names": len(names), "rules": rules, "bpf_bytes": size, "missing": sorted(missing)}))


main()
