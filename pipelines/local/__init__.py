"""Local backend: run a compiled pipeline on this machine, no cluster.

`kfp` runs the KFP IR, `argo` the Argo Workflow; both run each container task through `process`
(a subprocess with its log and retries; `containers`: in its image with `docker run`) and report
the results of `results`.
"""
