"""The retraining trigger: starts a retrain when the monitor's verdict (drift, decay) or a new data
partition asks for one and the cooldown and one-in-flight rule allow it."""
