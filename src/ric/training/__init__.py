"""Training loops (classifier and RIC model), configs as data, safetensors checkpoints with resume."""
