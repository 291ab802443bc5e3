"""`ric bench speed`: speed of the paper scheme: throughput, per-stage breakdown, Φ steps, peak memory,
the authors'-settings baseline, fast decryption and the classification overhead; and beside it the sealed scheme's
encryption (coarse-attack steps, retries) and decryption on the same images (`--skip sealed` leaves it out).

  ric bench speed --size 32  [--n 128] [--threads 2]   # shipped cifar10 pair, CIFAR-10 test images
  ric bench speed --size 64  [--n 32] [--threads 2]    # shipped celeba64 pair, CelebA-64 test faces
  ric bench speed --size 160 [--n 8]  [--threads 2]    # shipped celeba160 pair, CelebA-160 test faces
One size per process, so that the peak RSS printed belongs to that size. `--model M --classifier C`: another
trained pair. `--stages-only`: Φ runs a fixed `--phi-steps` steps and reports its cost per step; everything else
(F+E, D, PNG I/O, sealed n_adv, classify) is measured as usual; nothing end to end.
Prints Markdown tables and one JSON line.
Times are wall-clock per image, best (minimum) of `--repeat` runs, after one untimed warm-up encryption; Φ alone and
the authors' baseline run once (the same noise images for every Φ variant). The load average is printed before
and after.

One module per job: measure (the set-up and the stages), baseline (the authors' Φ and the equal-success retry),
report (tables and ratios).
"""
from .baseline import EQUAL_SUCCESS_RUNS, AuthorsCodec, authors_phi, until_success
from .measure import Run, decrypt_in_memory, load_setup, run
from .report import ratios_line, report, report_stages
