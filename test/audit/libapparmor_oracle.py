"""libapparmor's reading of audit log lines, for the conformance test.

Usage: /usr/bin/python3 libapparmor_oracle.py FILE  ->  one JSON object per input line.
String fields are given as hex of their bytes (libapparmor decodes hex-encoded names to bytes,
which Python surfaces with surrogate escapes), so non-UTF-8 names compare exactly.
"""
import json
import sys

import LibAppArmor

STRINGS = [
    "operation", "profile", "name", "name2", "requested_mask", "denied_mask", "comm", "net_family",
    "net_sock_type", "net_protocol", "signal", "peer", "peer_profile", "fs_type", "src_name", "flags",
    "info", "dbus_bus", "dbus_path", "dbus_interface", "dbus_member",
]
NUMBERS = ["pid", "fsuid", "ouid", "epoch", "audit_sub_id", "event"]
UNSET = 2**64 - 1


def main() -> None:
    with open(sys.argv[1], encoding="latin-1") as f:
        for line in f.read().split("\n")[:-1]:
            record = LibAppArmor.parse_record(line)
            out = {"valid": record.event != LibAppArmor.AA_RECORD_INVALID}
            for key in STRINGS:
                value = getattr(record, key)
                if value is not None:
                    out[key] = value.encode("utf-8", "surrogateescape").hex()
            for key in NUMBERS:
                value = getattr(record, key)
                if value not in (None, UNSET):
                    out[key] = value
            LibAppArmor.free_record(record)
            print(json.dumps(out))


if __name__ == "__main__":
    main()
