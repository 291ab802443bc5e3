"""Files through the schemes: plan (outputs, resume), stream (folders, shards, windows), engine, classify."""
