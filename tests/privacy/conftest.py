import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from contacts.permissions import ensure_teammate_groups


@pytest.fixture
def member(db):
    """A staff teammate in a group: member("viewer") or member("agent")."""

    def make(group: str):
        ensure_teammate_groups()
        user = get_user_model().objects.create_user(group, f"{group}@parley.test", "pw", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    return make
