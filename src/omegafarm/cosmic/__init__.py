"""omegafarm.cosmic."""
