"""The text agent policy: a language model writing free-text turns (tool calls, answers, GUI actions)."""
