from django.conf import settings
from django.db import models

from clouds.crypto import EncryptedTextField


class CloudCredential(models.Model):
    """An OpenStack project's credentials, as the original platform asks for them.

    Secrets (the password, the application credential's secret) are encrypted
    at rest and never shown again. The load-balancer choice says how Services of
    type LoadBalancer get their address on clusters this product provisions for.
    """

    class LoadBalancers(models.TextChoices):
        NONE = "none", "None"
        OCTAVIA = "octavia", "Octavia"
        TAIKUN = "taikun", "Taikun LB"

    name = models.CharField(max_length=100, unique=True)
    auth_url = models.URLField("Identity (Keystone v3) URL")
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True)
    application_credential_id = models.CharField(max_length=200, blank=True)
    application_credential_secret = EncryptedTextField(blank=True)
    user_domain_name = models.CharField(max_length=100, default="Default")
    project_name = models.CharField(max_length=200, blank=True)
    project_domain_name = models.CharField(max_length=100, default="Default")
    region_name = models.CharField(max_length=100, blank=True)
    floating_network = models.CharField(
        "public (floating) network", max_length=200, blank=True,
        help_text="Name or id of the external network floating IPs come from. Empty: balancers stay internal.")
    availability_zone = models.CharField(max_length=100, blank=True)
    load_balancers = models.CharField(max_length=20, choices=LoadBalancers.choices, default=LoadBalancers.OCTAVIA)
    taikun_flavor = models.CharField("Taikun LB flavor", max_length=100, blank=True)
    taikun_vrid_start = models.PositiveSmallIntegerField("first virtual router id", default=1)
    taikun_vrid_end = models.PositiveSmallIntegerField("last virtual router id", default=255)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @property
    def uses_application_credential(self) -> bool:
        return bool(self.application_credential_id)


class ConnectionTest(models.Model):
    """One run of "Test connection" on a credential: its steps, as they happen."""

    credential = models.ForeignKey(CloudCredential, on_delete=models.CASCADE, related_name="tests")
    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    # [{"key", "title", "state": "running|ok|failed|skipped", "message", "fix"}]
    steps = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started"]
        get_latest_by = "started"

    @property
    def group_name(self) -> str:
        return f"connection-test-{self.credential_id}"


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

    class Provisioner(models.TextChoices):
        CLUSTER = "cluster", "The cluster's own cloud controller"
        PRODUCT = "product", "This product (through the cloud credential)"

    load_balancers_by = models.CharField(
        "load balancers provisioned by", max_length=20, choices=Provisioner.choices, default=Provisioner.CLUSTER)
    lb_subnet = models.CharField(
        "subnet of the nodes", max_length=200, blank=True,
        help_text="Name or id of the subnet the cluster's nodes are on: balancers get their VIP there.")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @property
    def balancers_by_product(self) -> bool:
        return self.load_balancers_by == self.Provisioner.PRODUCT and self.cloud_credential_id is not None

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


class ServiceBalancer(models.Model):
    """A cloud load balancer this product built for a Service, and what became of it.

    `steps` is what the student sees being built, each with its time; `cloud`
    holds the cloud's ids (balancer, listeners, pools, servers, ports, floating IP).
    """

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Failed"
        DELETING = "deleting", "Deleting"
        DELETED = "deleted", "Deleted"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="balancers")
    namespace = models.CharField(max_length=63)
    service = models.CharField(max_length=253)
    service_uid = models.CharField(max_length=64, blank=True)
    provider = models.CharField(max_length=20, choices=CloudCredential.LoadBalancers.choices)
    name = models.CharField(max_length=255)
    state = models.CharField(max_length=20, choices=State.choices, default=State.BUILDING)
    address = models.GenericIPAddressField(null=True, blank=True)
    steps = models.JSONField(default=list, blank=True)
    cause = models.CharField(max_length=50, blank=True)  # a failure's kind: quota, error, no-network, image...
    error = models.TextField(blank=True)  # what went wrong and what the student can do, in plain words
    cloud = models.JSONField(default=dict, blank=True)
    vrid = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "namespace", "service"], name="one_balancer_per_service"),
        ]

    def __str__(self):
        return self.name


class OrphanedResource(models.Model):
    """A balancer, server or floating IP in a cloud whose Service no longer exists (found by the sweep)."""

    credential = models.ForeignKey(CloudCredential, on_delete=models.CASCADE, related_name="orphans")
    kind = models.CharField(max_length=30)  # load balancer | server | floating ip | port
    cloud_id = models.CharField(max_length=100)
    name = models.CharField(max_length=255, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    found = models.DateTimeField(auto_now_add=True)
    removed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-found"]
        constraints = [models.UniqueConstraint(fields=["credential", "kind", "cloud_id"], name="one_orphan_row")]

    def __str__(self):
        return f"{self.kind} {self.name or self.cloud_id}"
