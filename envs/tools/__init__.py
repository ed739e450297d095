"""Tool environments: tools models call over several turns (code sandbox, calculator, ...)."""
