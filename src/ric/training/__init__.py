"""The trainers (`ric train`, `ric train-classifier`) and what they share: one loop, schedules, banks, checkpoints."""
