"""`ric bench speed`, the report: the Markdown tables and the one-line ratios printed from a run's result dict."""
from __future__ import annotations

import json

from ..common import table
from .baseline import EQUAL_SUCCESS_RUNS


def _head(r: dict, title: str) -> None:
    print(f"\n## {title}: {r['setup']}")
    print(f"machine: {r['machine']}; load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}; "
          f"wall {r['wall_s']:.0f} s; peak RSS {r['peak_rss_mib']:.0f} MiB")


STAGES_ONLY_ROWS = (("classify (plaintext forward)", "classify_plain_s"),
                    ("Φ, one step (forward+backward+Adam)", "phi_s_per_step"), ("F+E+Q", "fe_s"), ("D", "d_s"),
                    ("PNG write", "png_write_s"), ("PNG read + authenticate", "png_read_s"),
                    ("PNG write, with sealed n_adv", "png_write_fast_s"),
                    ("PNG read + authenticate + unseal n_adv", "png_read_fast_s"))


def report_stages(res: dict, phi_steps: int) -> None:
    _head(res, f"{res['size']}x{res['size']}, n={res['n']}, stages only")
    print("\n" + table(["stage", "ms/img"], [[name, f"{1000 * res[k]:.2f}"] for name, k in STAGES_ONLY_ROWS]))
    print(f"\nclassify ciphertext/plaintext = {res['classify_ratio_cipher_over_plain']:.3f}; file size "
          f"{res['size_bytes']:.0f} -> {res['size_fast_bytes']:.0f} bytes with sealed n_adv; unsealed exact "
          f"{res['fast_unsealed_exact']}; mean margin after {phi_steps} steps {res['phi_margin_after_steps']:.3f}")
    print("JSON " + json.dumps(res))


PATH_ROWS = (("classify, plaintext (forward pass, the codec's batches)", "classify_plain_s"),
             ("classify, ciphertext", "classify_cipher_s"),
             ("classifier forward+backward (input gradient, Φ's slot batches and memory layout)", "fwd_bwd_s"),
             ("encrypt, in memory (ours)", "encrypt_s"),
             ("encrypt, in memory, Φ from noise alone (no class starts)", "cold_encrypt_s"),
             ("encrypt, files (ours)", "files_encrypt_s"),
             ("encrypt, files, with the n_adv chunk", "files_encrypt_fast_s"),
             ("encrypt, in memory, authors' Φ (no retries)", "authors_encrypt_s"),
             ("decrypt, in memory, regenerating Φ", "decrypt_regen_s"),
             ("decrypt, in memory, fast (sealed n_adv)", "decrypt_fast_s"),
             ("decrypt, files, regenerating Φ", "files_decrypt_regen_s"),
             ("decrypt, files, fast", "files_decrypt_fast_s"),
             ("decrypt, files, fast, round-1 settings (1 I/O thread, D batch 64, zlib 6)",
              "files_decrypt_fast_serial_s"),
             ("sealed scheme: encrypt, in memory (attack + seal + label check)", "sealed_encrypt_s"),
             ("sealed scheme: decrypt, in memory (bit-exact)", "sealed_decrypt_s"))
STAGE_ROWS = (("Φ ours (refill schedule)", "phi_refill_s"), ("Φ ours, chunk schedule", "phi_chunk_s"),
              ("Φ ours from noise alone (no class starts)", "cold_phi_s"),
              ("Φ authors (lr 0.01, 100 steps)", "authors_phi_s"),
              ("Φ ours, retried on new noise until g1 (equal success)", "ours_equal_s"),
              ("Φ authors, retried on new noise until g1 (equal success)", "authors_equal_s"),
              ("F+E+Q", "fe_s"), ("D", "d_s"),
              ("PNG write (encode + metadata)", "png_write_s"), ("PNG read + authenticate", "png_read_auth_s"),
              ("PNG write, with sealed n_adv", "png_write_fast_s"),
              ("PNG read + authenticate + unseal n_adv", "png_read_auth_unseal_fast_s"))


def ratios_line(r: dict) -> str:
    """The issue's targets as measured ratios (one run): encrypt and regenerating decrypt per classifier
    forward+backward, fast decrypt per D, the authors' Φ per ours, and the ciphertexts' histogram distances."""
    fb = r["fwd_bwd_s"]
    parts = [f"class starts {r['class_starts']}", f"encrypt / fwd+bwd {r['encrypt_s'] / fb:.1f}",
             f"regenerating decrypt / fwd+bwd {r['decrypt_regen_s'] / fb:.1f}",
             f"fast decrypt (in memory) / D {r['decrypt_fast_s'] / r['d_s']:.2f}"]
    if "cold_encrypt_s" in r:
        parts.append(f"encrypt without starts / fwd+bwd {r['cold_encrypt_s'] / fb:.1f} "
                     f"(Φ steps {r['cold_phi_steps']['median']}/{r['cold_phi_steps']['p90']:.0f}/"
                     f"{r['cold_phi_steps']['max']} median/p90/max)")
    if "authors_phi_s" in r:
        parts.append(f"authors' Φ / ours {r['authors_phi_s'] / r['phi_refill_s']:.1f}")
    if "authors_equal_s" in r:
        parts.append(f"at equal success {r['authors_equal_s'] / r['ours_equal_s']:.1f} (Φ runs per image "
                     f"{r['authors_equal_runs']:.2f} / {r['ours_equal_runs']:.2f}; never reached g1 in "
                     f"{EQUAL_SUCCESS_RUNS} runs: {r['authors_equal_missed']} / {r['ours_equal_missed']})")
    if "sealed_encrypt_s" in r:
        parts.append(f"sealed encrypt / fwd+bwd {r['sealed_encrypt_s'] / fb:.1f}")
    tv = f"histogram TV from the keyed noise: ciphertexts {r['hist_tv_cipher_vs_noise']:.3f}"
    if "hist_tv_cold_cipher_vs_noise" in r:
        tv += f", without starts {r['hist_tv_cold_cipher_vs_noise']:.3f}"
    return "ratios: " + "; ".join(parts) + "\n" + tv


def report(r: dict) -> None:
    ips = lambda s: 1 / s if s else float("inf")   # noqa: E731
    _head(r, f"{r['size']}x{r['size']}, n={r['n']}")
    print("\n" + table(["path", "s/img", "img/s"], [[name, f"{r[k]:.5f}", f"{ips(r[k]):.1f}"]
                                                    for name, k in PATH_ROWS if k in r]))
    print("\n" + table(["stage", "ms/img"], [[name, f"{1000 * r[k]:.3f}"] for name, k in STAGE_ROWS if k in r]))
    print(f"\nclassify: ciphertext/plaintext forward time = {r['classify_ratio_cipher_over_plain']:.3f}; "
          f"label agreement {r['label_agreement']:.3f}")
    print(f"recovered PSNR (in memory, vs plaintext, all ciphertexts): mean {r['psnr_db']['mean']:.2f} dB, "
          f"min {r['psnr_db']['min']:.2f} dB")
    print(f"Φ steps: {r['phi_steps']}; first-nonce success {r['phi_success_first_nonce']:.3f}; "
          f"retries {r['retries']}; failed {r['encrypt_failed']}")
    if "authors_phi_success" in r:
        print(f"authors' Φ success (margin ≥ g1 after 100 steps): {r['authors_phi_success']:.3f}; target label "
              f"reached: {r['authors_phi_reach_label']:.3f}; usable ciphertexts (margin and label): "
              f"{r['authors_encrypt_usable']:.3f}")
        print(f"speed-up of ours over authors: Φ {r['authors_phi_s'] / r['phi_refill_s']:.1f}x, "
              f"encrypt {r['authors_encrypt_s'] / r['encrypt_s']:.1f}x")
    if "sealed" in r:
        sd = r["sealed"]
        st = sd["steps"] or {}
        print(f"sealed scheme ({json.dumps(sd['config'])}): encrypted {sd['encrypted']}/{r['n']}, first try "
              f"{sd['first_try']}, retries {sd['retries']}, errors {sd['errors']}; coarse-attack steps median "
              f"{st.get('median')} / p90 {st.get('p90')} / max {st.get('max')}; decrypted bit-exact "
              f"{sd.get('bit_exact')}")
    print(ratios_line(r))
    print(f"decrypt speed-up fast/regenerating: in memory {r['decrypt_regen_s'] / r['decrypt_fast_s']:.0f}x, "
          f"files {r['files_decrypt_regen_s'] / r['files_decrypt_fast_s']:.0f}x (round-1 settings "
          f"{r['files_decrypt_regen_s'] / r['files_decrypt_fast_serial_s']:.0f}x); file size "
          f"{r['size_bytes']:.0f} -> {r['size_fast_bytes']:.0f} bytes")
    print(f"bits: refill == chunk {r.get('phi_same_bits_refill_vs_chunk')}, fast == regen {r['fast_equals_regen']}, "
          f"unsealed exact {r['fast_unsealed_exact']}, 1 thread == n threads {r.get('phi_same_bits_1_vs_n_threads')}, "
          f"files fast == round-1 fast (pixels) {r['files_fast_pipelined_same_pixels']}; recovered PNG bytes "
          f"zlib 1 vs 6: {r['recovered_png_bytes_level1_vs_6']}")
    for k in ("lr_sweep", "slot_sweep"):
        if k in r:
            print(f"{k}: {json.dumps(r[k])}")
    print("JSON " + json.dumps(r))
