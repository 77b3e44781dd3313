import pytest
from django.db import connection

from clouds.models import CloudCredential, Cluster

pytestmark = pytest.mark.django_db


def _raw(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_stores_the_password_encrypted():
    cred = CloudCredential.objects.create(name="os", auth_url="http://127.0.0.1:5000/v3", username="u",
                                          password="s3cret-password", project_name="p")
    raw = _raw("clouds_cloudcredential", "password", cred.pk)
    assert "s3cret-password" not in raw
    assert CloudCredential.objects.get(pk=cred.pk).password == "s3cret-password"


def test_it_stores_the_kubeconfig_encrypted():
    cluster = Cluster.objects.create(name="real", kubeconfig="users: [{user: {token: tok-123456}}]\n")
    assert "tok-123456" not in _raw("clouds_cluster", "kubeconfig", cluster.pk)
    assert "tok-123456" in Cluster.objects.get(pk=cluster.pk).kubeconfig


def test_it_refuses_to_decrypt_with_another_key(settings):
    cred = CloudCredential.objects.create(name="os", auth_url="http://127.0.0.1:5000/v3", username="u",
                                          password="pw", project_name="p")
    settings.SECRET_KEY = "another-secret-key-entirely"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        CloudCredential.objects.get(pk=cred.pk)


def test_it_makes_the_sandbox_the_default_cluster(settings):
    settings.LIVEOPS_KUBECONFIG = "/tmp/some-kubeconfig"
    cluster = Cluster.default()
    assert cluster.name == "sandbox" and cluster.is_default
    assert cluster.kubeconfig_path == "/tmp/some-kubeconfig"
