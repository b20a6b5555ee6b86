import gzip

from django.core.management.base import BaseCommand, CommandError

from widget.build import BuildToolMissing, build


class Command(BaseCommand):
    help = "Minify widget/js/*.js into static/widget/ (the committed, served files)."

    def handle(self, *args, **options):
        try:
            written = build()
        except BuildToolMissing as error:
            raise CommandError(str(error)) from None
        for path in written:
            size = len(gzip.compress(path.read_bytes(), compresslevel=9))
            self.stdout.write(f"{path.name}: {path.stat().st_size} bytes, {size} bytes gzipped")
