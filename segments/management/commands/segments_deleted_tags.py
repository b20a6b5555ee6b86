"""manage.py segments_deleted_tags: the segments whose filter names a tag that no longer exists (saved before a tag
in use could not be deleted), which match differently than when they were saved. Lists them and exits with status 1
when there are some, so a deploy check or a cron job can alert; it changes nothing (each is fixed on its admin page)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from segments.selectors import segments_naming_deleted_tags


class Command(BaseCommand):
    help = (
        "List the segments whose filter names a deleted tag (they hold others than when saved); exit status 1 "
        "when there are some. Nothing is changed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        found = segments_naming_deleted_tags()
        for segment, tag_ids in found:
            listed = ", ".join(f"#{tag_id}" for tag_id in tag_ids)
            self.stdout.write(
                f"Segment {segment.pk} “{segment.name}” ({segment.get_person_type_display().lower()}): "
                f"names deleted tag(s) {listed}"
            )
        if found:
            raise CommandError(
                f"{len(found)} segment(s) name a deleted tag: fix each on its admin page (the segment list's filter "
                "“Filter problems: Names a deleted tag” shows them), by changing its filter or saving it again "
                "from the list."
            )
        self.stdout.write("No segment names a deleted tag.")
