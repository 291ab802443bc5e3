"""Bytes and pixels: PNG chunks (png), input images and their policy (images), uint8 <-> float tensors (tensors),
safe writes (atomic)."""
