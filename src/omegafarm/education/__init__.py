"""omegafarm.education."""
