import yaml
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html

from clouds.kubeconfigs import KubeconfigError, check_kubeconfig, check_kubeconfig_path
from clouds.models import CloudCredential, Cluster, ConnectionTest
from clouds.openstack.results import render_connection_test
from clouds.openstack.testing import start_connection_test

VRID_MIN, VRID_MAX = 1, 255
LB = CloudCredential.LoadBalancers


class SecretInput(forms.PasswordInput):
    """A write-only input: never rendered back; says whether a value is stored."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", "class": "vTextField", **(attrs or {})},
                         render_value=False)


class CloudCredentialForm(forms.ModelForm):
    auth_url = forms.URLField(
        label="Identity (Keystone v3) URL", assume_scheme="https", widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text="The Keystone URL, e.g. https://keystone.example.com:5000/v3")
    password = forms.CharField(
        widget=SecretInput(), required=False, strip=False,
        help_text="Stored encrypted, never shown again. Leave empty to keep the stored one.")
    application_credential_secret = forms.CharField(
        widget=SecretInput(), required=False, strip=False,
        help_text="Stored encrypted, never shown again. Leave empty to keep the stored one.")
    taikun_vrid_start = forms.IntegerField(label="First virtual router id", initial=VRID_MIN, required=False,
                                           widget=forms.NumberInput(attrs={"class": "vIntegerField"}))
    taikun_vrid_end = forms.IntegerField(label="Last virtual router id", initial=VRID_MAX, required=False,
                                         widget=forms.NumberInput(attrs={"class": "vIntegerField"}),
                                         help_text="Keepalived's VRRP ids for Taikun LB pairs: 1 to 255.")

    class Meta:
        model = CloudCredential
        fields = "__all__"
        help_texts = {
            "username": "With a password; or leave empty and give an application credential.",
            "application_credential_id": "Instead of a user name and password.",
            "project_name": "The project to work in (not needed with an application credential: it names its own).",
            "region_name": "Empty: the cloud's only region.",
            "availability_zone": "Optional: where Taikun LB servers and balancers go.",
            "taikun_flavor": "Taikun LB only: at least 1 vCPU and 1 GB RAM.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field, what in (("password", "A password"), ("application_credential_secret", "A secret")):
            if self.instance.pk and getattr(self.instance, field):
                self.fields[field].help_text = f"{what} is stored (encrypted, never shown). Leave empty to keep it."

    def _secret(self, field: str) -> str:
        """The typed secret, else the stored one."""
        return self.cleaned_data.get(field) or (getattr(self.instance, field) if self.instance.pk else "") or ""

    def clean(self):
        data = super().clean()
        app_id = data.get("application_credential_id", "")
        typed_password = data.get("password", "")
        if app_id:
            if typed_password:
                self.add_error("password", "Give either a password or an application credential, not both.")
            stored = self.instance.application_credential_secret if (
                self.instance.pk and self.instance.application_credential_id == app_id) else ""
            data["application_credential_secret"] = data.get("application_credential_secret") or stored
            if not data["application_credential_secret"]:
                self.add_error("application_credential_secret", "Give the application credential's secret.")
            data["password"] = ""  # one way to sign in: the application credential
        else:
            if data.get("application_credential_secret"):
                self.add_error("application_credential_id", "Give the application credential's id with its secret.")
            data["password"] = self._secret("password")
            data["application_credential_secret"] = ""
            if not data["password"]:
                self.add_error("password", "Give either a password or an application credential.")
            if not data.get("username"):
                self.add_error("username", "Give the user name (or an application credential instead).")
            if not data.get("project_name"):
                self.add_error("project_name", "Give the project to work in.")
        self._clean_taikun(data)
        return data

    def _clean_taikun(self, data):
        start, end = data.get("taikun_vrid_start"), data.get("taikun_vrid_end")
        for field, value, default in (("taikun_vrid_start", start, VRID_MIN), ("taikun_vrid_end", end, VRID_MAX)):
            if value is None:
                data[field] = default
            elif not VRID_MIN <= value <= VRID_MAX:
                self.add_error(field, f"A virtual router id is between {VRID_MIN} and {VRID_MAX} ({value} is not).")
        start, end = data.get("taikun_vrid_start"), data.get("taikun_vrid_end")
        if (start is not None and end is not None and start > end
                and "taikun_vrid_start" not in self.errors and "taikun_vrid_end" not in self.errors):
            self.add_error("taikun_vrid_start", f"The first virtual router id ({start}) is above the last ({end}).")
        if data.get("load_balancers") == LB.TAIKUN and not data.get("taikun_flavor"):
            self.add_error("taikun_flavor", "Taikun LB needs a flavor.")


def _credential_url(credential_id) -> str:
    return reverse("admin:clouds_cloudcredential_change", args=[credential_id])


@admin.register(CloudCredential)
class CloudCredentialAdmin(admin.ModelAdmin):
    form = CloudCredentialForm
    list_display = ("name", "auth_url", "project_name", "region_name", "load_balancers", "last_test")
    search_fields = ("name", "project_name", "auth_url")
    actions = ["test_connection"]
    radio_fields = {"load_balancers": admin.HORIZONTAL}
    fieldsets = (
        ("Identity", {
            "description": "Sign in with a user name and password, or with an application credential.",
            "fields": ("name", "auth_url", "username", "password", "application_credential_id",
                       "application_credential_secret", "user_domain_name"),
        }),
        ("Project", {"fields": ("project_name", "project_domain_name", "region_name")}),
        ("Network", {"fields": ("floating_network", "availability_zone")}),
        ("Load balancers", {
            "description": "How Services of type LoadBalancer get their address on clusters this product "
                           "provisions balancers for. Flavor and virtual router ids are for Taikun LB only.",
            "fields": ("load_balancers", "taikun_flavor", ("taikun_vrid_start", "taikun_vrid_end")),
        }),
    )

    def get_queryset(self, request):
        latest = ConnectionTest.objects.filter(credential=OuterRef("pk")).order_by("-started", "-pk")
        return super().get_queryset(request).annotate(
            last_test_ok=Subquery(latest.values("ok")[:1]), last_test_at=Subquery(latest.values("started")[:1]))

    @admin.display(description="Last test")
    def last_test(self, obj):
        if getattr(obj, "last_test_at", None) is None:
            return "—"
        if obj.last_test_ok is None:
            return "Testing…"
        icon, label = ("yes", "OK") if obj.last_test_ok else ("no", "Failed")
        return format_html('<img src="{}" alt=""> {}', static(f"admin/img/icon-{icon}.svg"), label)

    # ---- test connection ----------------------------------------------------------------------

    def get_urls(self):
        return [
            path("<path:object_id>/test-connection/", self.admin_site.admin_view(self.test_connection_view),
                 name="clouds_cloudcredential_test_connection"),
            *super().get_urls(),
        ]

    def test_connection_view(self, request, object_id):
        """POST: start a new test (returns at once; the steps arrive over the WebSocket)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        credential = get_object_or_404(CloudCredential, pk=object_id)
        if not self.has_change_permission(request, credential):
            raise PermissionDenied
        start_connection_test(credential)
        if request.htmx:
            # The new test reaches the page over its WebSocket, in order with its steps
            # (a response drawn now could land after them and show a stale state).
            return HttpResponse(status=204)
        self.message_user(request, "Testing the connection: the steps appear below as they run.", messages.INFO)
        return redirect(_credential_url(credential.pk))

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request, queryset):
        for credential in queryset:
            start_connection_test(credential)
        self.message_user(request, f"Testing {len(queryset)} credential(s): open one to follow its steps.",
                          messages.INFO)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        start_connection_test(obj)

    def response_add(self, request, obj, post_url_continue=None):
        if "_addanother" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        # The connection test runs now: stay on the credential to watch it.
        self.message_user(request, f"The credential “{obj}” was added; testing its connection.", messages.SUCCESS)
        return redirect(_credential_url(obj.pk))

    def response_change(self, request, obj):
        if "_addanother" in request.POST or "_popup" in request.POST or "_saveasnew" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, f"The credential “{obj}” was changed; testing its connection.", messages.SUCCESS)
        return redirect(_credential_url(obj.pk))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["show_save_and_continue"] = False  # "Save" stays on the page to show the test
        if obj is not None and obj.pk:
            context["connection_test"] = render_connection_test(obj.pk)
        return super().render_change_form(request, context, add, change, form_url, obj)


class ClusterForm(forms.ModelForm):
    kubeconfig = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False,
                                 help_text="Paste a kubeconfig (stored encrypted, never shown again), or give a file "
                                           "path below. Leave empty to keep the stored one.")

    class Meta:
        model = Cluster
        fields = "__all__"
        help_texts = {
            "cloud_credential": "The OpenStack project the cluster's nodes run in.",
            "load_balancers_by": "Who builds the cloud load balancer of a Service of type LoadBalancer.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["kubeconfig"] = ""  # write-only: the stored credentials are never sent to the browser

    def clean(self):
        data = super().clean()
        self._clean_load_balancers(data)
        if data.get("kubeconfig_path"):
            try:
                check_kubeconfig_path(data["kubeconfig_path"])
            except KubeconfigError as exc:
                self.add_error("kubeconfig_path", exc.message)
        if not data.get("kubeconfig") and self.instance.pk and self.instance.kubeconfig:
            data["kubeconfig"] = self.instance.kubeconfig
            return data
        if not data.get("kubeconfig") and not data.get("kubeconfig_path"):
            raise forms.ValidationError("Give either a kubeconfig or the path of a kubeconfig file.")
        if data.get("kubeconfig"):
            try:
                parsed = yaml.safe_load(data["kubeconfig"])
            except yaml.YAMLError as exc:
                raise forms.ValidationError({"kubeconfig": f"This is not valid YAML: {exc}"}) from None
            except RecursionError:  # PyYAML recurses once per level of nesting
                raise forms.ValidationError({"kubeconfig": "This YAML is nested too deeply to be a kubeconfig."}) \
                    from None
            try:
                check_kubeconfig(parsed, "kubeconfig")
            except KubeconfigError as exc:
                raise forms.ValidationError({"kubeconfig": exc.message}) from None
        return data

    def _clean_load_balancers(self, data):
        if data.get("load_balancers_by") != Cluster.Provisioner.PRODUCT:
            return
        credential = data.get("cloud_credential")
        if credential is None:
            self.add_error("cloud_credential", "Choose the cloud credential this product builds load balancers with.")
        elif credential.load_balancers == LB.NONE:
            self.add_error("cloud_credential", f"The credential “{credential}” has load balancers “None”: choose "
                                               "Octavia or Taikun LB on it, or let the cluster's own cloud "
                                               "controller provision them.")
        if not data.get("lb_subnet"):
            self.add_error("lb_subnet", "Give the subnet of the cluster's nodes: balancers get their address there.")

    def save(self, commit=True):
        cluster = super().save(commit)
        if cluster.is_default:
            Cluster.objects.exclude(pk=cluster.pk).filter(is_default=True).update(is_default=False)
        return cluster


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = ("name", "is_default", "kubeconfig_path", "cloud_credential", "load_balancers_by", "created")
    list_select_related = ("cloud_credential",)
    radio_fields = {"load_balancers_by": admin.VERTICAL}
    fieldsets = (
        (None, {"fields": ("name", "is_default")}),
        ("Access", {"fields": ("kubeconfig", "kubeconfig_path", "context")}),
        ("Load balancers", {
            "description": "Services of type LoadBalancer get their address from the cluster's own cloud "
                           "controller, or from this product through a cloud credential.",
            "fields": ("cloud_credential", "load_balancers_by", "lb_subnet"),
        }),
    )
