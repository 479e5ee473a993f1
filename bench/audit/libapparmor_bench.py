"""Lines per second of libapparmor's own parser (python3-libapparmor) over one log file.

Usage: /usr/bin/python3 libapparmor_bench.py FILE  ->  prints one JSON object.
"""
import json
import sys
import time

import LibAppArmor


def main() -> None:
    with open(sys.argv[1], encoding="latin-1") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    parse = LibAppArmor.parse_record
    start = time.perf_counter()
    cpu_start = time.process_time()
    parsed = 0
    for line in lines:
        record = parse(line)
        if record.event != LibAppArmor.AA_RECORD_INVALID:
            parsed += 1
        LibAppArmor.free_record(record)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(json.dumps({"lines": len(lines), "parsed": parsed, "seconds": elapsed, "linesPerSecond": len(lines) / elapsed, "cpuLinesPerSecond": len(lines) / cpu}))


if __name__ == "__main__":
    main()
