"""The controller's passes share one OpenStack login per process; an edited credential gets its own."""

from clouds.openstack.connection import shared
from tests.clouds.conftest import credential_from


def test_passes_share_one_login_and_an_edited_credential_logs_in_again(cloud, db):
    credential = credential_from(cloud)
    first = shared(credential)
    assert [n.name for n in first.network.networks(name="public")] == ["public"]
    token = first.session.get_token()

    again = shared(credential)
    assert again is first
    assert again.session.get_token() == token  # no new Keystone login for the next pass

    credential.password = "not-the-password"
    credential.save()
    edited = shared(credential)
    assert edited is not first  # the admin changed the password: the old login is not reused
