"""omegafarm.exchange."""
