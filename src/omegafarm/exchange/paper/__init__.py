"""omegafarm.exchange.paper."""
