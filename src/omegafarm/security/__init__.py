"""omegafarm.security."""
