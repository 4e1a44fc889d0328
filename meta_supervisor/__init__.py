"""meta-supervisor: a GitOps supervisor for a fleet of trading agents.

Core modules (pure: stdlib + numpy): records, reconcile, sim_model, risk, divergence, alerts,
policy, report, config, timeutil.  Shells: store, policy_yaml, adapters/*, jobs/*, cli.
"""
