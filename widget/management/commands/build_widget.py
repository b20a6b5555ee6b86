import gzip

from django.core.management.base import BaseCommand

from widget.build import build


class Command(BaseCommand):
    help = "Minify widget/js/*.js into static/widget/ (the committed, served files)."

    def handle(self, *args, **options):
        for path in build():
            size = len(gzip.compress(path.read_bytes(), compresslevel=9))
            self.stdout.write(f"{path.name}: {path.stat().st_size} bytes, {size} bytes gzipped")
