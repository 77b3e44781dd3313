from django.apps import AppConfig


class CloudsConfig(AppConfig):
    name = "clouds"
    verbose_name = "Clouds and clusters"

    def ready(self):
        from clouds.loadbalancers import admin  # noqa: F401 - registers the balancers' admin pages
        from clouds.loadbalancers.watching import subscribe_balancers

        subscribe_balancers()
