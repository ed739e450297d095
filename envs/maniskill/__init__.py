"""ManiSkill3 tasks behind the embodied-rl env contract (``mani-skill``, ``sapien``)."""
