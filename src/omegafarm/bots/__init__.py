"""omegafarm.bots."""
