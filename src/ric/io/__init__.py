"""Bytes and pixels: PNG chunks (png), which scheme a ciphertext is (container), input images and their policy
(images), uint8 <-> float tensors (tensors), safe writes (atomic)."""
