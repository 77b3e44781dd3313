import yaml
from django import forms
from django.contrib import admin

from clouds.kubeconfigs import KubeconfigError, check_kubeconfig, check_kubeconfig_path
from clouds.models import CloudCredential, Cluster


class CloudCredentialForm(forms.ModelForm):
    auth_url = forms.URLField(assume_scheme="https", help_text="The Keystone URL, e.g. https://keystone.example.com:5000/v3")
    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                               help_text="Stored encrypted. Leave empty to keep the current password.")

    class Meta:
        model = CloudCredential
        fields = "__all__"

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if not password:
            if self.instance.pk:
                return self.instance.password
            raise forms.ValidationError("A password is required for new credentials.")
        return password


@admin.register(CloudCredential)
class CloudCredentialAdmin(admin.ModelAdmin):
    form = CloudCredentialForm
    list_display = ("name", "auth_url", "project_name", "region_name", "load_balancers")


class ClusterForm(forms.ModelForm):
    kubeconfig = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False,
                                 help_text="Paste a kubeconfig (stored encrypted, never shown again), or give a file "
                                           "path below. Leave empty to keep the stored one.")

    class Meta:
        model = Cluster
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["kubeconfig"] = ""  # write-only: the stored credentials are never sent to the browser

    def clean(self):
        data = super().clean()
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
            try:
                check_kubeconfig(parsed, "kubeconfig")
            except KubeconfigError as exc:
                raise forms.ValidationError({"kubeconfig": exc.message}) from None
        return data

    def save(self, commit=True):
        cluster = super().save(commit)
        if cluster.is_default:
            Cluster.objects.exclude(pk=cluster.pk).filter(is_default=True).update(is_default=False)
        return cluster


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = ("name", "is_default", "kubeconfig_path", "created")
