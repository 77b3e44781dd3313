"""The embedded Kubernetes cluster, cloud and DNS server (standalone).

Run with `python -m sandbox --port PORT --kubeconfig PATH`. Nothing here
imports the product, and the product never imports this package: it talks to
the sandbox over HTTP and DNS like to any real cluster.
"""
