"""Checks over a recorded graph: the AWS API models (``apimodels``) and the policy pack
evaluated without the engine (``policy_pack``)."""
