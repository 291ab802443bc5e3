"""`ric attack linkage`: can a key-less attacker tell two same-label plaintexts apart from a ciphertext?

The game (a left-or-right distinguishing game on same-label pairs):

* The attacker holds every public model, so it encrypts images of its own (from the TRAIN split) under keys of
  its own, as many as its budget allows, and fits its statistic predictors on those (ciphertext, plaintext)
  pairs only.
* Each trial shows it two TEST plaintexts x0, x1 that share the classifier's label ŷ (the label a ciphertext
  reveals by design, so pairs with different ŷ would be won trivially) and the ciphertext of x_b, b a seeded coin,
  made under a victim key it never saw. It names b. Every trial has its own two images and its own ciphertext
  (no image and no ciphertext is used twice).
* Reported: accuracy with a 95% binomial interval (Clopper–Pearson, exact; Wilson alongside), and the R² of the
  attacker's prediction of the per-image contrast E[(x − 0.5)²] per channel, on the victim ciphertexts.

Statistics (`stats`, the same function for ciphertexts and plaintexts). What the keyed scramble of format ric/2
keeps is the multiset of pixel triples of |u_en − 0.5| (one permutation for all channels, a sign flip per value),
so the first block (`invariant_stats`) is invariant to a pixel permutation shared by the channels and to
reflecting any value about 0.5: even central moments, quantiles, a histogram of |v − 0.5| per channel, moments
across channels and quantiles of the per-pixel squared norm. The second block (`signed_stats`: per-channel
mean and quantiles of the raw values) is invariant to permutations only: the paper's scheme keeps it.

Attackers, all fitted on the attacker's own pairs only:
* "ridge": ridge regression from stats(c) to stats(x), the penalty chosen by exact leave-one-out error; a
  trial names the candidate whose statistics are nearer the prediction, each in units of its leave-one-out
  residual spread (standardised distance).
* "deepsets": a permutation-invariant network (a per-pixel MLP on the RGB triple, mean-pooled, batch norm,
  an MLP) trained to predict the same statistics; the same decision rule, the residual spread measured on a
  held-out fifth of the attacker's pairs.
* "likelihood": the generative direction: ridge from stats(x) to stats(c), and the candidate under which the
  victim's stats(c) are more likely (Gaussian, shrunk leave-one-out residual covariance). Predicts no contrast.

One module per job: features (the statistics), attackers, statistics (intervals, R²), game (the pairs, the
trials, `linkage` with its LinkageConfig), report (data set names, figure, table).
"""
from .attackers import DeepSetsAttacker, Likelihood, Reverse, Ridge, SetNet, Standard, choose, fit_attackers
from .features import CONTRAST, batched, channel_contrast, invariant_stats, signed_stats, stats
from .game import (
    LinkageConfig,
    attacker_pairs,
    decoys,
    derived_key,
    draw_pairs,
    fits_sealed,
    linkage,
    make_encryptor,
    play,
    predicted_labels,
    same_label_pairs,
    victim_trials,
)
from .report import DATASETS, figure, resolve_names, table
from .statistics import binom_cdf, clopper_pearson, label_only_r2, r2, score, wilson_interval
