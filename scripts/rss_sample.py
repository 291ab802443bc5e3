"""usage: python scripts/rss_sample.py LOG.tsv SECONDS OUT_DIR COMMAND...  (100k streaming memory check)
Run a command, sample its RSS (VmRSS, kB) and the number of outputs every `dt` s; write a TSV log."""
import os
import subprocess
import sys
import time

log, dt, outdir, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
t0 = time.time()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log + ".stderr", "w"))
with open(log, "w") as f:
    f.write(f"# pid {p.pid} cmd {cmd}\nt_s\trss_kb\toutputs\tload1\n")
    while p.poll() is None:
        try:
            rss = next(l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")).split()[1]
        except (StopIteration, FileNotFoundError):
            rss = "nan"
        nout = sum(1 for _ in os.scandir(outdir)) if os.path.isdir(outdir) else 0
        f.write(f"{time.time()-t0:.1f}\t{rss}\t{nout}\t{os.getloadavg()[0]:.2f}\n"); f.flush()
        time.sleep(dt)
    f.write(f"# exit {p.returncode} after {time.time()-t0:.1f} s\n")
