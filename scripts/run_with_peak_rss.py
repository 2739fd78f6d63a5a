"""Run `python -m MODULE ARGS...` and write the process's own peak RSS (MiB) to REPORT_FILE.

    python scripts/run_with_peak_rss.py REPORT_FILE MODULE [ARGS...]

Why not rusage from wait4: on Linux a child's ru_maxrss also counts the memory of the parent it
was forked from (exec keeps the pre-exec high-water mark), so a child of a large pytest process
reports pytest's size. VmHWM in /proc/self/status belongs to the post-exec address space only.
"""

import atexit
import runpy
import sys


def write_peak_rss(report_file):
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(report_file, "w") as f:
        f.write(f"{kib / 1024:.1f}\n")


if __name__ == "__main__":
    report_file, module = sys.argv[1], sys.argv[2]
    atexit.register(write_peak_rss, report_file)
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
