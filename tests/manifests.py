"""The LoadBalancer lab's Deployment and Service as texts, shared by the tests.

Tests assert line numbers in these texts: the Deployment is 19 lines long, so in
`both()` (Deployment, "---", Service) the Service starts on line 21.
"""

from textwrap import dedent

DEPLOYMENT = dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: lb-test
    spec:
      replicas: 3
      selector:
        matchLabels:
          app: lb-test
      template:
        metadata:
          labels:
            app: lb-test
        spec:
          containers:
            - name: web
              image: nginx:1.27
              ports:
                - containerPort: 80
    """)

SERVICE = dedent("""\
    apiVersion: v1
    kind: Service
    metadata:
      name: lb-test-svc
    spec:
      type: LoadBalancer
      selector:
        app: lb-test
      ports:
        - protocol: TCP
          port: 80
          targetPort: 80
    """)


def both(deployment: str = DEPLOYMENT, service: str = SERVICE) -> str:
    """A Deployment and a Service as one text, the way a student writes the lab."""
    return deployment + "---\n" + service


LAB_MANIFEST = both()
