"""Cloud load balancers for LoadBalancer Services, built by this product as OpenStack's own cloud
controller builds them: Octavia (octavia/) or Taikun LB (taikun/), behind one Provider interface
(base.py), driven by a level-based controller (controller.py) on the shared watch, in Celery."""
