"""The paper's scheme: x' = Q((1 − λ)·mix(E(F(x) ‖ n_adv)) + λ·n_adv), recovered by D after unmixing.

codec (tensors: Φ, encode, decode, retries), mixing (the keyed mask of ric/3, the scramble of ric/2), header (the
public metadata chunk, its AEAD and pixel tag, the n_adv chunk), scheme (PaperScheme, the Scheme interface).
"""
