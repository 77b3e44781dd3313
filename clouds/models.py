from django.conf import settings
from django.db import models

from clouds.crypto import EncryptedTextField


class CloudCredential(models.Model):
    """OpenStack credentials (the secret is encrypted at rest).

    The load-balancer providers (Octavia, Taikun LB) build on this.
    """

    name = models.CharField(max_length=100, unique=True)
    auth_url = models.URLField()
    username = models.CharField(max_length=200)
    password = EncryptedTextField()
    project_name = models.CharField(max_length=200)
    user_domain_name = models.CharField(max_length=100, default="Default")
    project_domain_name = models.CharField(max_length=100, default="Default")
    region_name = models.CharField(max_length=100, blank=True)
    octavia_enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Cluster(models.Model):
    """A Kubernetes cluster lab sessions run on.

    Either `kubeconfig` (stored encrypted) or `kubeconfig_path` (a file on the
    server, e.g. the sandbox's, rewritten on every start) says how to reach it.
    """

    name = models.CharField(max_length=100, unique=True)
    kubeconfig = EncryptedTextField(blank=True)
    kubeconfig_path = models.CharField(max_length=500, blank=True)
    context = models.CharField(max_length=200, blank=True)
    is_default = models.BooleanField(default=False)
    cloud_credential = models.ForeignKey(CloudCredential, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @classmethod
    def default(cls) -> "Cluster":
        """The cluster new sessions use; created from settings on first use."""
        cluster = cls.objects.filter(is_default=True).first()
        if cluster is None:
            cluster, _ = cls.objects.get_or_create(
                name="sandbox",
                defaults={"kubeconfig_path": settings.LIVEOPS_KUBECONFIG, "is_default": True},
            )
            if not cluster.is_default:
                cluster.is_default = True
                cluster.save(update_fields=["is_default"])
        return cluster
