"""Security evaluation of RIC: the paper's three attacks (brute force, cloud, known plaintext), the stronger
public-model inversion attacker (DESIGN §6) and nonce hygiene. Each attack is a function returning a dict of
measured numbers; `ric attack ...` (attacks/cli.py) wraps them with budgets, progress bars, tables and figures.

Everything an attacker uses here is what the threat model gives it: ciphertext pixels, the public metadata
(nonce, model names), the public models (classifier; for inversion also F, E, D) and, where stated, keys of
its own. The victim's key is used only to make the victim's ciphertexts and the correct-key reference.
"""
