"""VLA policies: a backbone (MLP/CNN encoder or a transformers VLM/LLM) + an action head + a value head."""
