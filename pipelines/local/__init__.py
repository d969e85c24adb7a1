"""Local backend: run the compiled KFP IR on this machine, each task a subprocess, no cluster."""
