"""The inbox's default order, newest activity first: one index per inbox view (state, assignee,
team, everything), so a page stays an index range scan at a million conversations."""

import conversations.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0005_part_emailed_at'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='conversation',
            index=conversations.models.NullsLastIndex(models.F('state'), models.OrderBy(models.F('last_part_at'), descending=True, nulls_last=True), models.OrderBy(models.F('id'), descending=True), name='conv_state_activity'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=conversations.models.NullsLastIndex(models.F('assignee'), models.F('state'), models.OrderBy(models.F('last_part_at'), descending=True, nulls_last=True), models.OrderBy(models.F('id'), descending=True), name='conv_assignee_activity'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=conversations.models.NullsLastIndex(models.F('team'), models.F('state'), models.OrderBy(models.F('last_part_at'), descending=True, nulls_last=True), models.OrderBy(models.F('id'), descending=True), name='conv_team_activity'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=conversations.models.NullsLastIndex(models.OrderBy(models.F('last_part_at'), descending=True, nulls_last=True), models.OrderBy(models.F('id'), descending=True), name='conv_activity'),
        ),
    ]
