"""Create (or refresh) the demo cloud credentials and clusters from the sandbox's clouds.yaml.

The sandbox cloud makes new secrets on every start, so `make run` runs this
after starting it: credential "sandbox" (Octavia) for the default cluster, and
credential "sandbox-taikun" (a project without Octavia, with an image tagged
taikun-lb) for a second cluster whose balancers are Taikun LB pairs.
"""

import yaml
from django.core.management.base import BaseCommand, CommandError

from clouds.models import CloudCredential, Cluster


def credential_values(clouds: dict, name: str) -> dict:
    entry = clouds["clouds"][name]
    auth = entry["auth"]
    return {
        "auth_url": auth["auth_url"], "username": auth["username"], "password": auth["password"],
        "project_name": auth["project_name"], "user_domain_name": auth.get("user_domain_name", "Default"),
        "project_domain_name": auth.get("project_domain_name", "Default"), "region_name": entry.get("region_name", ""),
        "floating_network": clouds.get("sandbox", {}).get("floating_network", "public"),
    }


class Command(BaseCommand):
    help = "Create or refresh the demo cloud credentials and clusters from the sandbox cloud's clouds.yaml."

    def add_arguments(self, parser):
        parser.add_argument("--clouds-yaml", required=True)
        parser.add_argument("--kubeconfig", required=True, help="the default demo cluster's kubeconfig")
        parser.add_argument("--taikun-kubeconfig", help="the second demo cluster's kubeconfig (Taikun LB)")

    def handle(self, *args, clouds_yaml, kubeconfig, taikun_kubeconfig=None, **options):
        try:
            with open(clouds_yaml) as fh:
                clouds = yaml.safe_load(fh)
        except OSError as exc:
            raise CommandError(f"cannot read {clouds_yaml}: {exc.strerror}") from None
        subnet = clouds.get("sandbox", {}).get("subnet", "lab-subnet")
        octavia, _ = CloudCredential.objects.update_or_create(
            name="sandbox", defaults={**credential_values(clouds, "sandbox"), "load_balancers": "octavia"})
        cluster = Cluster.objects.filter(kubeconfig_path=kubeconfig, kubeconfig="").first() or Cluster.default()
        lines = []
        if cluster.kubeconfig_path == kubeconfig and not cluster.kubeconfig:
            Cluster.objects.filter(pk=cluster.pk).update(cloud_credential=octavia, load_balancers_by="product",
                                                         lb_subnet=subnet)
            lines.append(f"cluster {cluster.name}: balancers by this product, Octavia (credential {octavia.name})")
        if taikun_kubeconfig:
            taikun, _ = CloudCredential.objects.update_or_create(
                name="sandbox-taikun", defaults={**credential_values(clouds, "sandbox-taikun"),
                                                 "load_balancers": "taikun", "taikun_flavor": "m1.small"})
            second, _ = Cluster.objects.update_or_create(
                name="sandbox-taikun", defaults={"kubeconfig_path": taikun_kubeconfig, "cloud_credential": taikun,
                                                 "load_balancers_by": "product", "lb_subnet": subnet})
            lines.append(f"cluster {second.name}: balancers by this product, Taikun LB (credential {taikun.name}); "
                         "make it the default cluster in the admin to start labs there")
        self.stdout.write("Demo clouds:\n" + "\n".join("  " + line for line in lines))
