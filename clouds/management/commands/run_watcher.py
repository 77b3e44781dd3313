import signal
import threading

from django.core.management.base import BaseCommand

from clouds.watch import Watcher


class Command(BaseCommand):
    help = "Watch every cluster (one watch per kind) and serve every subscriber (lab pages, checks...)."

    def add_arguments(self, parser):
        parser.add_argument("--refresh", type=float, default=15.0, help="seconds between re-reads of the clusters")

    def handle(self, *args, refresh, **options):
        watcher = Watcher(refresh=refresh)
        done = threading.Event()

        def stop(signum, frame):
            done.set()
            watcher.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("watcher started", ending="\n")
        self.stdout.flush()
        try:
            watcher.run()
        finally:
            watcher.stop()
            self.stdout.write("watcher stopped")
            self.stdout.flush()
