"""omegafarm.store."""
