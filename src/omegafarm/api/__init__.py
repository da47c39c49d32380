"""omegafarm.api."""
